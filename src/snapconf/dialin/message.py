"""SIP message parsing and serialising (RFC 3261 section 7, 20 and 25).

Pure code, no asyncio. :func:`parse_message` turns the bytes of one message into a
:class:`SipRequest` or :class:`SipResponse`; ``bytes(message)`` serialises it back with an exact
``Content-Length``. Bad input raises :class:`SipParseError` (a :class:`ValueError`) with an exact
message naming what is wrong. The parser is deliberately strict (RFC 3261 section 25 grammar, with
the size :class:`Limits` a public server needs) but accepts what RFC 4475 lists as valid: header
folding, compact forms, free whitespace around ``:`` and inside ``Via``'s sent-protocol, escaped
characters in URIs, unknown methods and schemes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "COMPACT_FORMS",
    "CSeq",
    "Headers",
    "Limits",
    "NameAddr",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "StreamFramer",
    "Via",
    "parse_message",
    "split_header_list",
]


class SipParseError(ValueError):
    """A message (or a header, URI, ...) does not follow the RFC 3261 grammar or our limits."""


@dataclass(frozen=True)
class Limits:
    """Size limits applied before and while parsing (all in bytes or counts)."""

    max_datagram: int = 8192
    """Largest UDP datagram processed (RFC 3261 18.1.1 keeps requests under 1300 on UDP)."""
    max_message: int = 16384
    """Largest message (headers + body), also on stream transports."""
    max_headers: int = 64
    """Largest number of header lines (after unfolding)."""
    max_line: int = 2048
    """Longest header line, after unfolding."""
    max_body: int = 8192
    """Largest body (an SDP offer is well under 2 KiB)."""


DEFAULT_LIMITS = Limits()

COMPACT_FORMS: dict[str, str] = {
    "i": "Call-ID",
    "m": "Contact",
    "f": "From",
    "t": "To",
    "v": "Via",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "r": "Refer-To",
    "u": "Allow-Events",
    "x": "Session-Expires",
}
"""RFC 3261 section 7.3.3 compact forms (and the ones later RFCs added)."""

_CANONICAL: dict[str, str] = {
    name.lower(): name
    for name in (
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Allow",
        "Call-ID",
        "Contact",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Length",
        "Content-Type",
        "CSeq",
        "Date",
        "Event",
        "Expires",
        "From",
        "Max-Forwards",
        "Min-SE",
        "Proxy-Require",
        "Record-Route",
        "Require",
        "Retry-After",
        "Route",
        "Server",
        "Session-Expires",
        "Subject",
        "Supported",
        "To",
        "Unsupported",
        "User-Agent",
        "Via",
        "Warning",
        "P-Asserted-Identity",
        "Remote-Party-ID",
        "Allow-Events",
        "Refer-To",
    )
}
_CANONICAL["call-id"] = "Call-ID"
_CANONICAL["cseq"] = "CSeq"

_TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN_RE = re.compile(rf"[{_TOKEN_CHARS}]+")
_METHOD_RE = _TOKEN_RE
_VERSION_RE = re.compile(r"SIP/(\d{1,3})\.(\d{1,3})", re.IGNORECASE)
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:[^\s<>\"]+")
_DIGITS_RE = re.compile(r"\d{1,10}")


def canonical_name(name: str) -> str:
    """The canonical spelling of a header name: compact forms expanded, known names recased."""
    lower = name.lower()
    if lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    known = _CANONICAL.get(lower)
    if known is not None:
        return known
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class Headers:
    """An ordered multi-map of header fields with case-insensitive canonical names.

    Values are kept as received (unfolded, outer whitespace stripped). Comma-separated lists
    (``Via: a, b``) stay in one value; :meth:`get_list` splits them (RFC 3261 section 7.3.1).
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        cname = canonical_name(name)
        return any(n == cname for n, _ in self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def copy(self) -> Headers:
        h = Headers()
        h._items = list(self._items)
        return h

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        cname = canonical_name(name)
        for n, v in self._items:
            if n == cname:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order, one per header line."""
        cname = canonical_name(name)
        return [v for n, v in self._items if n == cname]

    def get_list(self, name: str) -> list[str]:
        """Every element of ``name``, comma-separated lists split (RFC 3261 section 7.3.1)."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(split_header_list(value))
        return out

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` with one value, at the place of the first one."""
        cname = canonical_name(name)
        for i, (n, _) in enumerate(self._items):
            if n == cname:
                self._items[i] = (cname, value)
                self._items = [
                    it for j, it in enumerate(self._items) if j <= i or it[0] != cname
                ]
                return
        self._items.append((cname, value))

    def remove(self, name: str) -> None:
        cname = canonical_name(name)
        self._items = [it for it in self._items if it[0] != cname]


def split_header_list(value: str) -> list[str]:
    """Split a comma-separated header value at commas outside quotes and ``<>``.

    Raises :class:`SipParseError` on an unterminated quoted string or angle bracket.
    """
    out: list[str] = []
    depth = 0
    in_quotes = False
    escaped = False
    start = 0
    for i, ch in enumerate(value):
        if in_quotes:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
            if depth < 0:
                raise SipParseError("unbalanced '>' in header value")
        elif ch == "," and depth == 0:
            part = value[start:i].strip()
            if not part:
                raise SipParseError("empty element in header list")
            out.append(part)
            start = i + 1
    if in_quotes:
        raise SipParseError("unterminated quoted string in header value")
    if depth:
        raise SipParseError("unterminated '<' in header value")
    part = value[start:].strip()
    if not part:
        raise SipParseError("empty element in header list")
    out.append(part)
    return out


def _parse_params(text: str, what: str) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` generic parameters (names lower-cased, RFC 3261 25.1)."""
    params: dict[str, str | None] = {}
    if not text.strip():
        return params
    text = text.strip()
    if not text.startswith(";"):
        raise SipParseError(f"{what}: unexpected text {text[:20]!r}")
    for raw in _split_outside_quotes(text[1:], ";"):
        item = raw.strip()
        if not item:
            raise SipParseError(f"{what}: empty parameter")
        name, sep, value = item.partition("=")
        name = name.strip()
        if not _TOKEN_RE.fullmatch(name):
            raise SipParseError(f"{what}: bad parameter name {name[:20]!r}")
        if sep:
            value = value.strip()
            if not value:
                raise SipParseError(f"{what}: empty value for parameter {name!r}")
            if value.startswith('"'):
                if len(value) < 2 or not value.endswith('"'):
                    raise SipParseError(f"{what}: unterminated quoted parameter {name!r}")
            elif not re.fullmatch(r"[A-Za-z0-9\-.!%*_+`'~\[\]:]+", value):
                raise SipParseError(f"{what}: bad value for parameter {name!r}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    out: list[str] = []
    in_quotes = False
    escaped = False
    start = 0
    for i, ch in enumerate(text):
        if in_quotes:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
        elif ch == sep:
            out.append(text[start:i])
            start = i + 1
    if in_quotes:
        raise SipParseError("unterminated quoted string")
    out.append(text[start:])
    return out


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


_HOST_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::(\d{1,5}))?")


def _parse_hostport(text: str, what: str) -> tuple[str, int | None]:
    m = _HOST_RE.fullmatch(text)
    if m is None:
        raise SipParseError(f"{what}: bad host {text[:40]!r}")
    port = int(m.group(2)) if m.group(2) else None
    if port is not None and not 0 < port < 65536:
        raise SipParseError(f"{what}: port out of range")
    return m.group(1), port


@dataclass
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 section 19.1), or an opaque other-scheme URI."""

    scheme: str
    user: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str | None = None
    opaque: str | None = None
    """For schemes other than sip/sips (``tel:``, ``http:``...): everything after the colon."""

    @classmethod
    def parse(cls, text: str) -> SipUri:
        if not _URI_RE.fullmatch(text):
            raise SipParseError(f"bad URI {text[:60]!r}")
        scheme, _, rest = text.partition(":")
        scheme = scheme.lower()
        if scheme not in ("sip", "sips"):
            return cls(scheme=scheme, opaque=rest)
        before, qmark, headers = rest.partition("?")
        if "@" in before or "@" not in headers:
            rest = before
        else:  # the user part itself holds a '?' (RFC 4475 3.1.1.2)
            userinfo, _, after = rest.rpartition("@")
            hostport_params, qmark, headers = after.partition("?")
            rest = f"{userinfo}@{hostport_params}"
        userinfo, at, hostpart = rest.rpartition("@")
        user: str | None = None
        if at:
            if not userinfo:
                raise SipParseError("URI: empty user part")
            user = userinfo
            if not re.fullmatch(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%:]+", user):
                raise SipParseError(f"URI: bad user part {user[:40]!r}")
        hostport, semi, paramtext = hostpart.partition(";")
        host, port = _parse_hostport(hostport, "URI")
        params = _parse_params(";" + paramtext, "URI") if semi else {}
        return cls(
            scheme=scheme,
            user=user,
            host=host,
            port=port,
            params=params,
            headers=headers if qmark else None,
        )

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        out = f"{self.scheme}:"
        if self.user is not None:
            out += f"{self.user}@"
        out += self.host
        if self.port is not None:
            out += f":{self.port}"
        out += _format_params(self.params)
        if self.headers is not None:
            out += f"?{self.headers}"
        return out


_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass
class NameAddr:
    """A ``From``/``To``/``Contact``/``Route`` value: name-addr or addr-spec plus header params.

    RFC 3261 section 20.10 and 20.20: in the addr-spec form (no ``<>``) parameters after the URI
    belong to the header, not to the URI.
    """

    uri: str
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        if not text:
            raise SipParseError("empty address")
        display: str | None = None
        if text.startswith('"'):
            m = _QUOTED_RE.match(text)
            if m is None:
                raise SipParseError("unterminated quoted display name")
            display = re.sub(r"\\(.)", r"\1", m.group(1))
            text = text[m.end() :].lstrip()
            if not text.startswith("<"):
                raise SipParseError("display name without '<uri>'")
        if "<" in text.split(";", 1)[0] or text.startswith("<"):
            lt = text.index("<")
            if display is None and lt:
                token_display = text[:lt].strip()
                if not re.fullmatch(rf"[{_TOKEN_CHARS}]+(?:[ \t]+[{_TOKEN_CHARS}]+)*",
                                    token_display):
                    raise SipParseError(f"bad display name {token_display[:40]!r}")
                display = token_display
            gt = text.find(">", lt)
            if gt < 0:
                raise SipParseError("unterminated '<' in address")
            uri = text[lt + 1 : gt]
            rest = text[gt + 1 :]
        else:
            uri, semi, rest = text.partition(";")
            rest = semi + rest
            if "?" in uri or "," in uri:
                raise SipParseError("addr-spec with '?' or ',' must be in '<>'")
        uri = uri.strip()
        SipUri.parse(uri)
        return cls(uri=uri, display=display, params=_parse_params(rest, "address"))

    def __str__(self) -> str:
        out = ""
        if self.display is not None:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            out = f'"{escaped}" '
        return f"{out}<{self.uri}>{_format_params(self.params)}"


_VIA_RE = re.compile(
    rf"SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([{_TOKEN_CHARS}]+)[ \t]+([^;\s]+)[ \t]*(;.*)?",
    re.IGNORECASE | re.DOTALL,
)


@dataclass
class Via:
    """One ``Via`` element (RFC 3261 section 20.42, RFC 3581 rport)."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @classmethod
    def parse(cls, text: str) -> Via:
        m = _VIA_RE.fullmatch(text.strip())
        if m is None:
            raise SipParseError(f"bad Via {text[:60]!r}")
        host, port = _parse_hostport(m.group(2), "Via")
        params = _parse_params(m.group(3) or "", "Via")
        rport = params.get("rport")
        if rport is not None and not _DIGITS_RE.fullmatch(rport):
            raise SipParseError("Via: bad rport")
        return cls(transport=m.group(1).upper(), host=host, port=port, params=params)

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{_format_params(self.params)}"


@dataclass(frozen=True)
class CSeq:
    """``CSeq: number METHOD`` (RFC 3261 section 20.16: number below 2**31)."""

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2:
            raise SipParseError("CSeq: expected 'number method'")
        num, method = parts
        if not _DIGITS_RE.fullmatch(num) or int(num) >= 2**31:
            raise SipParseError("CSeq: bad sequence number")
        if not _METHOD_RE.fullmatch(method):
            raise SipParseError("CSeq: bad method")
        return cls(int(num), method)

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


class SipMessage:
    """What requests and responses share: headers, body and the parsed core headers."""

    headers: Headers
    body: bytes

    def _core(self) -> None:
        """Check and cache the headers every message needs (RFC 3261 section 8.1.1)."""
        h = self.headers
        for name in ("Via", "From", "To", "Call-ID", "CSeq"):
            values = h.get_all(name)
            if not values:
                raise SipParseError(f"missing {name} header")
            if name != "Via" and len(values) > 1:
                raise SipParseError(f"more than one {name} header")
        self.vias: list[Via] = [Via.parse(v) for v in h.get_list("Via")]
        self.from_: NameAddr = NameAddr.parse(h.get("From") or "")
        self.to: NameAddr = NameAddr.parse(h.get("To") or "")
        call_id = (h.get("Call-ID") or "").strip()
        if not call_id or any(c.isspace() for c in call_id):
            raise SipParseError("bad Call-ID")
        self.call_id: str = call_id
        self.cseq: CSeq = CSeq.parse(h.get("CSeq") or "")
        mf = h.get_all("Max-Forwards")
        if len(mf) > 1:
            raise SipParseError("more than one Max-Forwards header")
        if mf and (not _DIGITS_RE.fullmatch(mf[0]) or int(mf[0]) > 255):
            raise SipParseError("bad Max-Forwards")

    @property
    def content_type(self) -> str | None:
        ct = self.headers.get("Content-Type")
        return ct.split(";", 1)[0].strip().lower() if ct else None

    def _serialize(self, start_line: str) -> bytes:
        lines = [start_line]
        for name, value in self.headers:
            if name == "Content-Length":
                continue
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


class SipRequest(SipMessage):
    """A SIP request (RFC 3261 section 7.1)."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers,
        body: bytes = b"",
        version: str = "SIP/2.0",
        *,
        validate: bool = True,
    ) -> None:
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.version = version
        if validate:
            self._core()
            if self.cseq.method != method:
                raise SipParseError("CSeq method does not match the request method")

    def __bytes__(self) -> bytes:
        return self._serialize(f"{self.method} {self.uri} {self.version}")

    def __repr__(self) -> str:
        return f"SipRequest({self.method} {self.uri})"


class SipResponse(SipMessage):
    """A SIP response (RFC 3261 section 7.2)."""

    def __init__(
        self,
        status: int,
        reason: str,
        headers: Headers,
        body: bytes = b"",
        version: str = "SIP/2.0",
        *,
        validate: bool = True,
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.version = version
        if validate:
            self._core()

    def __bytes__(self) -> bytes:
        return self._serialize(f"{self.version} {self.status} {self.reason}")

    def __repr__(self) -> str:
        return f"SipResponse({self.status} {self.reason})"


def _unfold(header_block: str, limits: Limits) -> list[tuple[str, str]]:
    """Split the header block into (name, value), joining folded lines (RFC 3261 7.3.1)."""
    lines = header_block.split("\r\n")
    fields: list[list[str]] = []
    for line in lines:
        if "\n" in line or "\r" in line:
            raise SipParseError("bare CR or LF in header")
        if line[:1] in (" ", "\t"):
            if not fields:
                raise SipParseError("continuation line before the first header")
            fields[-1].append(line.strip(" \t"))
            continue
        fields.append([line])
        if len(fields) > limits.max_headers:
            raise SipParseError("too many headers")
    out: list[tuple[str, str]] = []
    for parts in fields:
        line = " ".join(p for p in parts if p) if len(parts) > 1 else parts[0]
        if len(line) > limits.max_line:
            raise SipParseError("header line too long")
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without ':' {line[:30]!r}")
        name = name.rstrip(" \t")
        if not _TOKEN_RE.fullmatch(name):
            raise SipParseError(f"bad header name {name[:30]!r}")
        if any(ord(c) < 32 and c != "\t" for c in value) or "\x7f" in value:
            raise SipParseError(f"control character in header {name}")
        out.append((name, value.strip(" \t")))
    return out


def parse_message(
    data: bytes, limits: Limits = DEFAULT_LIMITS, *, stream: bool = False
) -> SipRequest | SipResponse:
    """Parse one complete SIP message.

    Leading CRLFs are skipped (RFC 3261 section 7.5). ``Content-Length`` is mandatory on stream
    transports (section 18.3) and, when present, must equal the body length exactly; a message
    over UDP without it takes the rest of the datagram as its body.
    """
    if len(data) > limits.max_message:
        raise SipParseError("message too large")
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise SipParseError("no end of headers")
    try:
        head = data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("headers are not UTF-8") from None
    body = data[end + 4 :]
    if "\x00" in head:
        raise SipParseError("NUL byte in headers")
    first, _, header_block = head.partition("\r\n")
    if len(first) > limits.max_line:
        raise SipParseError("start line too long")
    headers = Headers(_unfold(header_block, limits)) if header_block else Headers()

    cl_values = headers.get_all("Content-Length")
    if len(cl_values) > 1:
        raise SipParseError("more than one Content-Length header")
    if cl_values:
        if not _DIGITS_RE.fullmatch(cl_values[0]):
            raise SipParseError("bad Content-Length")
        length = int(cl_values[0])
        if length > limits.max_body:
            raise SipParseError("body too large")
        if length != len(body):
            raise SipParseError(
                f"Content-Length {length} does not match body length {len(body)}"
            )
    elif stream:
        raise SipParseError("missing Content-Length on a stream transport")
    if len(body) > limits.max_body:
        raise SipParseError("body too large")

    parts = first.split(" ")
    if first.startswith("SIP/") and len(parts) >= 2:
        version, code = parts[0], parts[1]
        reason = first[len(version) + len(code) + 2 :]
        if not _VERSION_RE.fullmatch(version):
            raise SipParseError("bad SIP version in status line")
        if not re.fullmatch(r"[1-6]\d\d", code):
            raise SipParseError("bad status code")
        if any(ord(c) < 32 and c != "\t" for c in reason):
            raise SipParseError("control character in reason phrase")
        return SipResponse(int(code), reason, headers, body, version.upper())
    if len(parts) != 3:
        raise SipParseError("bad request line")
    method, uri, version = parts
    if not _METHOD_RE.fullmatch(method):
        raise SipParseError("bad method")
    if not _URI_RE.fullmatch(uri):
        raise SipParseError("bad Request-URI")
    if not _VERSION_RE.fullmatch(version):
        raise SipParseError("bad SIP version in request line")
    return SipRequest(method, uri, headers, body, version.upper())


class StreamFramer:
    """Cut a TCP byte stream into SIP messages by ``Content-Length`` (RFC 3261 section 18.3).

    :meth:`feed` returns the complete raw messages found so far; it raises
    :class:`SipParseError` when the stream can no longer be framed (a header block or a body
    over the limits, a missing or bad ``Content-Length``): the connection must then be closed.
    CRLF keep-alives (RFC 5626 section 3.5.1) between messages are dropped.
    """

    _CL_RE = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d{1,10})[ \t]*$",
                        re.IGNORECASE | re.MULTILINE)

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buf = bytearray()
        self.keepalives = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            while self._buf.startswith(b"\r\n"):
                if self._buf.startswith(b"\r\n\r\n"):
                    self.keepalives += 1
                    del self._buf[:4]
                else:
                    del self._buf[:2]
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > self._limits.max_message:
                    raise SipParseError("message too large")
                return out
            if end > self._limits.max_message:
                raise SipParseError("message too large")
            head = bytes(self._buf[:end])
            lengths = self._CL_RE.findall(head)
            if len(lengths) != 1:
                raise SipParseError("missing Content-Length on a stream transport")
            length = int(lengths[0])
            if length > self._limits.max_body:
                raise SipParseError("body too large")
            total = end + 4 + length
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]


def make_response(
    request: SipRequest,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    record_route: bool = False,
) -> SipResponse:
    """Build a response copying Via, From, To (adding ``to_tag``), Call-ID and CSeq
    (RFC 3261 section 8.2.6.2); ``record_route`` copies Record-Route (section 12.1.1)."""
    h = Headers()
    for v in request.headers.get_all("Via"):
        h.add("Via", v)
    h.add("From", request.headers.get("From") or "")
    to = request.headers.get("To") or ""
    if to_tag is not None and request.to.tag is None:
        to = f"{to};tag={to_tag}"
    h.add("To", to)
    h.add("Call-ID", request.call_id)
    h.add("CSeq", str(request.cseq))
    if record_route:
        for rr in request.headers.get_all("Record-Route"):
            h.add("Record-Route", rr)
    for name, value in extra:
        h.add(name, value)
    return SipResponse(status, reason, h, body, validate=False)
