"""The live stream: price and forecast events as Server-Sent Events (`GET /api/v1/stream`)."""
