"""The gateway's HTTP/1.1 data path: a raw asyncio server, a pooled upstream client, streamed bodies."""
