#!/usr/bin/python3
"""A Qpid Proton (Debian's python3-qpid-proton) AMQP 1.0 client for the end-to-end tests.

  amqp_client.py send URL ADDRESS COUNT     sends COUNT messages unsettled (at-least-once), each
                                            a data section b"proton-<i>" with properties; prints
                                            one JSON line per outcome, exits 0 once all are accepted
  amqp_client.py receive URL ADDRESS COUNT  prints "ready" once the link is attached, then one
                                            JSON line per message (accepting each), exits 0 after COUNT

Every run is bounded: after TIMEOUT seconds it prints what is missing and exits 2. SASL ANONYMOUS.
"""
import json
import sys

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container

TIMEOUT = 20


def text(value):
    if value is None:
        return None
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class Client(MessagingHandler):
    def __init__(self, mode, url, address, count):
        super().__init__(auto_accept=True)
        self.mode, self.url, self.address, self.count = mode, url, address, count
        self.sent = self.accepted = self.received = 0
        self.status = 2

    def on_start(self, event):
        self.timer = event.container.schedule(TIMEOUT, self)
        conn = event.container.connect(self.url, allowed_mechs="ANONYMOUS", sasl_enabled=True)
        if self.mode == "send":
            event.container.create_sender(conn, self.address)
        else:
            event.container.create_receiver(conn, self.address)

    def on_link_opened(self, event):
        if event.receiver is not None and self.mode == "receive":
            print("ready", flush=True)

    def on_sendable(self, event):
        while event.sender.credit > 0 and self.sent < self.count:
            i = self.sent
            message = Message(
                body=b"proton-%d" % i,
                inferred=True,  # bytes as a data section, not an AMQP value
                subject="greeting",
                content_type="text/plain",
                correlation_id="corr-%d" % i,
                reply_to="replies/proton",
                properties={"index": str(i), "origin": "proton"},
            )
            event.sender.send(message)
            self.sent += 1

    def on_accepted(self, event):
        self.accepted += 1
        print(json.dumps({"outcome": "accepted"}), flush=True)
        if self.accepted == self.count:
            self.finish(event, 0)

    def on_rejected(self, event):
        print(json.dumps({"outcome": "rejected"}), flush=True)
        self.finish(event, 1)

    def on_released(self, event):
        print(json.dumps({"outcome": "released"}), flush=True)
        self.finish(event, 1)

    def on_message(self, event):
        m = event.message
        body = m.body
        print(
            json.dumps(
                {
                    "body": text(body),
                    "binary": isinstance(body, (bytes, memoryview)),
                    "subject": m.subject,
                    "content_type": text(m.content_type),
                    "correlation_id": text(m.correlation_id),
                    "reply_to": m.reply_to,
                    "properties": {str(k): text(v) for k, v in (m.properties or {}).items()},
                }
            ),
            flush=True,
        )
        self.received += 1
        if self.received == self.count:
            self.finish(event, 0)

    def on_timer_task(self, event):
        print(f"timeout after {TIMEOUT} s: sent {self.sent}, accepted {self.accepted}, received {self.received} of {self.count}", file=sys.stderr, flush=True)
        self.status = 2
        event.container.stop()

    def on_transport_error(self, event):
        condition = event.transport.condition
        print(f"transport error: {condition.name if condition else ''} {condition.description if condition else ''}", file=sys.stderr, flush=True)
        self.status = 3
        event.container.stop()

    def finish(self, event, status):
        self.status = status
        self.timer.cancel()
        event.connection.close()


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("send", "receive"):
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    client = Client(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
    Container(client).run()
    sys.exit(client.status)


if __name__ == "__main__":
    main()
