"""An MCP client built on the official MCP Python SDK (`pip install mcp`), driving
`drover mcp` over stdio for the control tests.

Usage: client.py DROVER CONFIG SLOT [ALLOW]
Without ALLOW it lists the tools, reads the fleet and tries `pause` (which must be refused);
with ALLOW it calls `pause` on SLOT. It prints one JSON object with what it saw.
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

CLIENT_NAME = "drover-test-agent"


def text_of(result):
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def main(drover, config, slot, allow):
    args = ["--config", config, "mcp"]
    if allow:
        args += ["--allow", allow]
    server = StdioServerParameters(command=drover, args=args)
    out = {}
    async with stdio_client(server) as (read, write):
        info = types.Implementation(name=CLIENT_NAME, version="1.0.0")
        async with ClientSession(read, write, client_info=info) as session:
            await session.initialize()
            tools = await session.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            if not allow:
                status = await session.call_tool("fleet_status", {})
                out["status_error"] = bool(status.is_error)
                out["status"] = json.loads(text_of(status))
                reads = {
                    "slot_detail": {"slot": slot},
                    "recent_events": {"limit": 5},
                    "log_tail": {"slot": slot, "lines": 5},
                    "locks": {},
                    "progress": {},
                    "report": {"since": "1h"},
                }
                out["read_errors"] = {}
                for tool, arguments in reads.items():
                    r = await session.call_tool(tool, arguments)
                    if r.is_error:
                        out["read_errors"][tool] = text_of(r)
                refused = await session.call_tool("pause", {"slot": slot})
                out["refused_error"] = bool(refused.is_error)
                out["refused_text"] = text_of(refused)
            else:
                paused = await session.call_tool("pause", {"slot": slot})
                out["pause_error"] = bool(paused.is_error)
                out["pause_text"] = text_of(paused)
    print(json.dumps(out))


if __name__ == "__main__":
    argv = sys.argv[1:]
    asyncio.run(main(argv[0], argv[1], argv[2], argv[3] if len(argv) > 3 else None))
