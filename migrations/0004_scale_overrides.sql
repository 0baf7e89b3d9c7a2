-- `ctl scale` overrides of a role's replicas: they survive restarts and reloads of drover
-- until the config's own replicas for the role change (`configured` is what they override).
CREATE TABLE scale_overrides (
    role       TEXT PRIMARY KEY,
    replicas   INTEGER NOT NULL,
    configured INTEGER NOT NULL
);
