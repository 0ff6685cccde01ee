"""A Server-Sent Events reader over an httpx streaming response, for the stream's tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

STREAM_PATH = "/api/v1/stream"


@dataclass(frozen=True)
class Frame:
    """One frame as EventSource would split it: an event, a `retry:` or a comment."""

    event: str | None = None
    id: str | None = None
    data: str | None = None
    retry: int | None = None
    comment: str | None = None

    def json(self) -> Any:
        """The data, parsed."""
        assert self.data is not None, self
        return json.loads(self.data)


class SseReader:
    """Reads frames one by one as they arrive (the client's read timeout bounds each wait)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()

    def next(self) -> Frame:
        """The next frame; StopIteration when the stream has ended."""
        fields: dict[str, Any] = {}
        for line in self._lines:
            if line == "":
                if fields:
                    return Frame(**fields)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                fields["comment"] = value
            elif name == "retry":
                fields["retry"] = int(value)
            else:
                fields[name] = value
        raise StopIteration

    def until(self, done: Callable[[list[Frame]], bool], *, most: int = 500) -> list[Frame]:
        """Frames until `done(frames so far)` holds."""
        frames: list[Frame] = []
        while not done(frames):
            assert len(frames) < most, frames
            frames.append(self.next())
        return frames

    def events(self, kind: str, count: int) -> list[Frame]:
        """Frames until `count` events of `kind` have come; those events."""
        frames = self.until(lambda got: len(of_kind(got, kind)) >= count)
        return of_kind(frames, kind)

    def rest(self) -> list[Frame]:
        """Every frame until the stream ends."""
        frames: list[Frame] = []
        try:
            while True:
                frames.append(self.next())
        except StopIteration:
            return frames


def of_kind(frames: list[Frame], kind: str) -> list[Frame]:
    """The events of one kind among frames."""
    return [frame for frame in frames if frame.event == kind]


def heartbeats(frames: list[Frame]) -> int:
    """How many heartbeat comments are among frames."""
    return sum(frame.comment == "heartbeat" for frame in frames)


@contextmanager
def open_stream(
    base: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    read_timeout: float = 15,
) -> Iterator[SseReader]:
    """A stream from a server, once it has started (its first frame, `retry:`, is read)."""
    timeout = httpx.Timeout(5, read=read_timeout)
    with httpx.stream(
        "GET", base + STREAM_PATH, params=params, headers=headers, timeout=timeout
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        reader = SseReader(response)
        first = reader.next()
        assert first.retry == 3000, first
        yield reader


def replay(
    base: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> list[Frame]:
    """What a stream with `timeout=0` sends (the buffered events after the id given), after
    its `retry:`."""
    with open_stream(base, {"timeout": "0", **(params or {})}, headers) as reader:
        return reader.rest()
