-- The fleet's identity: a random id per fleet name, written as a label on every container this
-- store's drover creates, so containers merely wearing the fleet's labels are never adopted.
CREATE TABLE fleet_identity (
    fleet      TEXT PRIMARY KEY,
    id         TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
