"""A TLS front for the emulator, so a footprint run pays for HTTPS the way a run against AWS does.

The emulator speaks plain HTTP on loopback. With `measure.py --tls`, the functions are pointed at
https://localhost:<port> instead: this front terminates TLS with a throw-away certificate and relays
the bytes to the emulator. The functions trust it through SSL_CERT_FILE, set to a copy of the
machine's whole CA bundle with the throw-away CA appended, so the trust store they parse is the
size of a real one (one bundle file, as on Lambda's al2023 images).

Everything stays on 127.0.0.1; the certificate is made with the openssl command-line tool in a
temporary directory and lives for one run.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from pathlib import Path

SYSTEM_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]


def make_certificates(d: Path) -> tuple[Path, Path, Path]:
    """CA, server certificate (localhost, 127.0.0.1) and key; returns (bundle, cert, key)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, cwd=d, capture_output=True)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=autoheal-bench-ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                  "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    system = next((Path(p) for p in SYSTEM_BUNDLES if Path(p).exists()), None)
    if system is None:
        raise RuntimeError(f"no system CA bundle found (looked for {', '.join(SYSTEM_BUNDLES)})")
    bundle = d / "bundle.pem"
    bundle.write_bytes(system.read_bytes() + b"\n" + (d / "ca.pem").read_bytes())
    return bundle, d / "server.pem", d / "server.key"


class TlsFront:
    """Listens on 127.0.0.1 with TLS and relays every connection to the emulator's plain port."""

    def __init__(self, upstream_port: int, workdir: Path):
        self.bundle, cert, key = make_certificates(workdir)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self._ctx, self._upstream = ctx, upstream_port
        self._loop = asyncio.new_event_loop()
        self._server = None
        self.port = 0
        failed: list[BaseException] = []
        ready = threading.Event()

        async def start():
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self._ctx)
            self.port = self._server.sockets[0].getsockname()[1]

        def run():
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(start())
            except BaseException as e:  # reported by __init__, not as a thread traceback
                failed.append(e)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            # Stopped: close the listener and let the open relays finish cancelling.
            self._server.close()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10) or failed:
            raise RuntimeError(f"TLS front did not start: {failed[0] if failed else 'timeout'}")
        self.url = f"https://localhost:{self.port}"

    async def _relay(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream)
        except OSError:
            writer.close()
            return

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError, ssl.SSLError):
                pass
            finally:
                try:
                    dst.close()
                except Exception:
                    pass

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self):
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
