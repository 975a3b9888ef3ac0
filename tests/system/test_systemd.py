"""The notify protocol against real AF_UNIX datagram sockets, as systemd would receive it; beats that write nothing."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import struct
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pqdrop.service.systemd import Pulse, notify, upload_pace, watchdog_interval

RECEIVE_TIMEOUT = 5.0
UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path: AF_UNIX socket paths are limited to 108 bytes, tmp_path can be longer."""
    path = Path(tempfile.mkdtemp(prefix="pqsd-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def path_receiver(short_dir: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket on a filesystem path, and the NOTIFY_SOCKET value naming it."""
    address = str(short_dir / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(address)
        receiver.settimeout(RECEIVE_TIMEOUT)
        yield receiver, address


@pytest.fixture
def abstract_receiver() -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket in the abstract namespace, and its `@name` NOTIFY_SOCKET value."""
    name = f"pqdrop-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind("\0" + name)
        receiver.settimeout(RECEIVE_TIMEOUT)
        yield receiver, "@" + name


def test_ready_arrives_byte_exact_on_a_path_socket(path_receiver: tuple[socket.socket, str]) -> None:
    receiver, address = path_receiver
    assert notify("READY=1", {"NOTIFY_SOCKET": address}) is True
    assert receiver.recv(4096) == b"READY=1"


def test_ready_arrives_byte_exact_on_an_abstract_socket(abstract_receiver: tuple[socket.socket, str]) -> None:
    receiver, address = abstract_receiver
    assert notify("READY=1", {"NOTIFY_SOCKET": address}) is True
    assert receiver.recv(4096) == b"READY=1"


def test_status_text_arrives_as_utf8(path_receiver: tuple[socket.socket, str]) -> None:
    receiver, address = path_receiver
    status = "STATUS=3 waiting, uploading café.mp4 42%, next scheduled 18:00"
    assert notify(status, {"NOTIFY_SOCKET": address}) is True
    assert receiver.recv(4096) == status.encode("utf-8")


def test_each_message_is_its_own_datagram_in_order(abstract_receiver: tuple[socket.socket, str]) -> None:
    receiver, address = abstract_receiver
    messages = ["READY=1", "STATUS=0 waiting, 0 ready", "WATCHDOG=1", "STOPPING=1"]
    for message in messages:
        assert notify(message, {"NOTIFY_SOCKET": address}) is True
    assert [receiver.recv(4096) for _ in messages] == [message.encode() for message in messages]


def test_datagram_carries_this_process_pid_for_notify_access_main(path_receiver: tuple[socket.socket, str]) -> None:
    # NotifyAccess=main makes systemd drop datagrams whose SCM_CREDENTIALS pid is not the main pid.
    receiver, address = path_receiver
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": address}) is True
    data, ancillary, _flags, _sender = receiver.recvmsg(4096, socket.CMSG_SPACE(UCRED.size))
    credentials = [item for item in ancillary if item[:2] == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)]
    assert data == b"WATCHDOG=1"
    assert len(credentials) == 1
    pid, uid, _gid = UCRED.unpack(credentials[0][2][: UCRED.size])
    assert (pid, uid) == (os.getpid(), os.getuid())


def test_notify_reads_the_process_environment_by_default(
    path_receiver: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver, address = path_receiver
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    assert notify("STOPPING=1") is True
    assert receiver.recv(4096) == b"STOPPING=1"


def test_notify_without_notify_socket_returns_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


def test_notify_with_empty_notify_socket_returns_false() -> None:
    assert notify("READY=1", {"NOTIFY_SOCKET": ""}) is False


def test_notify_to_a_missing_socket_path_returns_false(short_dir: Path) -> None:
    assert notify("READY=1", {"NOTIFY_SOCKET": str(short_dir / "gone" / "notify")}) is False


def test_notify_to_a_socket_nobody_listens_on_returns_false(short_dir: Path) -> None:
    # The socket file stays behind after its owner closed it: connect() is refused.
    address = str(short_dir / "stale")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(address)
    assert Path(address).exists()
    assert notify("READY=1", {"NOTIFY_SOCKET": address}) is False


def test_notify_to_an_unbound_abstract_name_returns_false() -> None:
    assert notify("READY=1", {"NOTIFY_SOCKET": f"@pqdrop-test-{uuid.uuid4().hex}"}) is False


def test_notify_to_a_regular_file_returns_false(short_dir: Path) -> None:
    not_a_socket = short_dir / "plain"
    not_a_socket.write_text("")
    assert notify("READY=1", {"NOTIFY_SOCKET": str(not_a_socket)}) is False


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 30.0


def test_watchdog_interval_applies_when_watchdog_pid_is_this_process() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0


def test_watchdog_interval_is_none_when_watchdog_pid_is_another_process() -> None:
    other_pid = str(os.getpid() + 1)
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": other_pid}) is None


def test_watchdog_interval_is_none_without_watchdog_usec() -> None:
    assert watchdog_interval({}) is None


@pytest.mark.parametrize("usec", ["0", "-5", "sixty", "1.5e6"])
def test_watchdog_interval_is_none_for_an_unusable_watchdog_usec(usec: str) -> None:
    assert watchdog_interval({"WATCHDOG_USEC": usec}) is None


def test_watchdog_interval_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 10.0


def test_notify_never_blocks_when_the_manager_stops_reading() -> None:
    folder = tempfile.mkdtemp(dir="/tmp")
    address = os.path.join(folder, "n")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        listener.bind(address)
        results = [notify("STATUS=" + "x" * 1000, {"NOTIFY_SOCKET": address}) for _ in range(2000)]
        assert results[0] is True
        assert results[-1] is False  # the queue filled up; the message was dropped, nothing hung
    finally:
        listener.close()
        shutil.rmtree(folder)


def test_beats_send_the_watchdog_its_datagram_and_write_nothing_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Idle means idle: a beat is WATCHDOG=1 at most once per half interval, never a file touched."""
    now, sent = [1000.0], []

    def send(message: str) -> bool:
        sent.append(message)
        return True

    pulse = Pulse(beat_seconds=10.0, send=send, clock=lambda: now[0])
    monkeypatch.chdir(tmp_path)
    for _ in range(30):
        pulse.beat()
        now[0] += 1.0
    assert sent == ["WATCHDOG=1"] * 3
    assert list(tmp_path.iterdir()) == []


def test_progress_shows_rate_and_time_left_once_an_upload_ran_a_few_seconds() -> None:
    sent_messages: list[str] = []
    now = [0.0]
    terminal = io.StringIO()

    def send(message: str) -> bool:
        sent_messages.append(message)
        return True

    pulse = Pulse(send=send, clock=lambda: now[0], terminal=terminal)
    pulse.progress("clip.mp4", 4_000_000, 100_000_000)
    assert pulse.doing == "uploading clip.mp4 4%"  # too early to tell a rate
    now[0] = 4.0
    pulse.progress("clip.mp4", 44_000_000, 100_000_000)
    assert pulse.doing == "uploading clip.mp4 44% at 10.0 MB/s, 6 s left"
    assert sent_messages[-1] == "STATUS=uploading clip.mp4 44% at 10.0 MB/s, 6 s left"
    assert "44% at 10.0 MB/s, 6 s left (44.0 of 100.0 MB)" in terminal.getvalue()


def test_upload_pace_names_minutes_and_hours_for_long_uploads() -> None:
    assert upload_pace(5_000_000, 1.0, 600_000_000) == "at 5.0 MB/s, 2 min left"
    assert upload_pace(1_000_000, 10.0, 2_000_000_000) == "at 0.1 MB/s, 5.6 h left"


def test_status_shows_a_name_on_one_line_so_it_never_adds_an_assignment() -> None:
    sent: list[str] = []
    pulse = Pulse(send=lambda message: sent.append(message) is None, clock=lambda: 0.0)
    pulse.progress("a\nREADY=1\x1b.mp4", 10, 100)
    pulse.status("1 held by a sync conflict (b\nSTOPPING=1)", force=True)
    assert sent == ["STATUS=uploading a\\nREADY=1\\x1b.mp4 10%",
                    "STATUS=1 held by a sync conflict (b\\nSTOPPING=1), uploading a\\nREADY=1\\x1b.mp4 10%"]


def screen(output: str) -> list[str]:
    """What a terminal shows after `output`: the few control sequences Pulse draws with (CR, LF, ESC [ K/J/nF)."""
    lines, row, col = [""], 0, 0
    for token in re.findall(r"\x1b\[(\d*)([KJF])|(\r)|(\n)|([^\x1b\r\n]+)", output):
        number, command, carriage, feed, text = token
        if text:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + text + line[col + len(text):]
            col += len(text)
        elif carriage:
            col = 0
        elif feed:
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        elif command == "K":
            lines[row] = lines[row][:col]
        elif command == "J":
            lines[row] = lines[row][:col]
            del lines[row + 1:]
        elif command == "F":
            row, col = max(0, row - int(number or 1)), 0
    return [line for line in lines if line]


def test_concurrent_uploads_draw_one_line_each_and_a_finished_one_stays_above_them() -> None:
    terminal = io.StringIO()
    pulse = Pulse(send=lambda message: True, clock=lambda: 0.0, terminal=terminal)
    pulse.progress("big.mp4", 10_000_000, 100_000_000)
    pulse.progress("photo.jpg", 60_000, 240_000)
    pulse.progress("big.mp4", 20_000_000, 100_000_000)
    assert screen(terminal.getvalue()) == ["uploading big.mp4 20% (20.0 of 100.0 MB)",
                                           "uploading photo.jpg 25% (60 of 240 KB)"]
    pulse.progress("photo.jpg", 240_000, 240_000)
    pulse.progress("big.mp4", 30_000_000, 100_000_000)
    assert screen(terminal.getvalue()) == ["uploading photo.jpg 100% (240 of 240 KB)",
                                           "uploading big.mp4 30% (30.0 of 100.0 MB)"]
    pulse.forget("big.mp4")  # its worker gave it back (a stop): its line goes
    assert screen(terminal.getvalue()) == ["uploading photo.jpg 100% (240 of 240 KB)"]
