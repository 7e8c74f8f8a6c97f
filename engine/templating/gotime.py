"""Go's time.Time printing and layout formatting, for times in UTC.

``humanizeTimestamp`` prints a Go time.Time (``2021-01-01 00:00:00 +0000 UTC``) and
``toTime`` results can be formatted with Go layouts (``.Format "2006-01-02"``).
Python's datetime cannot represent Go's layout language, so it is done here.
"""

from __future__ import annotations

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_NS = 1_000_000_000


class Civil:
    """Broken-down UTC time of Unix nanoseconds."""

    def __init__(self, unix_nanos: int) -> None:
        secs, self.nanos = divmod(unix_nanos, _NS)
        days, rem = divmod(secs, 86400)
        self.hour, rem = divmod(rem, 3600)
        self.minute, self.second = divmod(rem, 60)
        self.weekday = (days + 4) % 7  # 1970-01-01 was a Thursday
        # Days to civil date (Howard Hinnant's algorithm).
        z = days + 719468
        era = z // 146097
        doe = z - era * 146097
        yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        self.day = doy - (153 * mp + 2) // 5 + 1
        self.month = mp + 3 if mp < 10 else mp - 9
        self.year = yoe + era * 400 + (1 if self.month <= 2 else 0)
        leap = self.year % 4 == 0 and (self.year % 100 != 0 or self.year % 400 == 0)
        cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
        self.yday = cumulative[self.month - 1] + self.day + (1 if leap and self.month > 2 else 0)


def _year(y: int) -> str:
    return ("-" if y < 0 else "") + f"{abs(y):04d}"


def _frac(nanos: int, digits: int, trim: bool, sep: str) -> str:
    text = f"{nanos:09d}"[:digits]
    if trim:
        text = text.rstrip("0")
        if not text:
            return ""
    return sep + text


def _chunk(layout: str, i: int, c: Civil) -> tuple[str, int] | None:
    """The formatted std chunk starting at layout[i] and its length, or None for a literal byte."""
    rest = layout[i:]
    hour12 = c.hour % 12 or 12
    fixed = [
        ("January", _MONTHS[c.month - 1]), ("Monday", _DAYS[c.weekday]), ("MST", "UTC"),
        ("2006", _year(c.year)), ("_2006", None), ("15", f"{c.hour:02d}"),
        ("-07:00:00", "+00:00:00"), ("-070000", "+000000"), ("-07:00", "+00:00"), ("-0700", "+0000"),
        ("-07", "+00"), ("Z07:00:00", "Z"), ("Z070000", "Z"), ("Z07:00", "Z"), ("Z0700", "Z"), ("Z07", "Z"),
        ("002", f"{c.yday:03d}"), ("__2", f"{c.yday:>3d}"),
        ("01", f"{c.month:02d}"), ("02", f"{c.day:02d}"), ("03", f"{hour12:02d}"), ("04", f"{c.minute:02d}"),
        ("05", f"{c.second:02d}"), ("06", f"{abs(c.year) % 100:02d}"), ("_2", f"{c.day:>2d}"),
        ("PM", "PM" if c.hour >= 12 else "AM"), ("pm", "pm" if c.hour >= 12 else "am"),
        ("1", str(c.month)), ("2", str(c.day)), ("3", str(hour12)), ("4", str(c.minute)), ("5", str(c.second)),
    ]
    for token, text in fixed:
        if rest.startswith(token):
            if token == "_2006":  # a literal underscore followed by the year
                return "_" + _year(c.year), 5
            return text, len(token)
    for token, text in (("Jan", _MONTHS[c.month - 1][:3]), ("Mon", _DAYS[c.weekday][:3])):
        if rest.startswith(token) and not rest[3:4].islower():
            return text, 3
    if rest[:1] in ".," and rest[1:2] in ("0", "9"):
        ch = rest[1]
        j = 1
        while j < len(rest) and rest[j] == ch:
            j += 1
        if not rest[j : j + 1].isdigit():
            return _frac(c.nanos, min(j - 1, 9), ch == "9", rest[0]), j
    return None


def format_layout(unix_nanos: int, layout: str) -> str:
    """time.Time.Format for a UTC time."""
    c = Civil(unix_nanos)
    out = []
    i = 0
    while i < len(layout):
        chunk = _chunk(layout, i, c)
        if chunk is None:
            out.append(layout[i])
            i += 1
        else:
            out.append(chunk[0])
            i += chunk[1]
    return "".join(out)


def time_string(unix_nanos: int) -> str:
    """time.Time.String for a UTC time."""
    return format_layout(unix_nanos, "2006-01-02 15:04:05.999999999 -0700 MST")


def time_gostring(unix_nanos: int) -> str:
    """time.Time.GoString (what %#v prints)."""
    c = Civil(unix_nanos)
    return (f"time.Date({c.year}, time.{_MONTHS[c.month - 1]}, {c.day}, {c.hour}, {c.minute}, {c.second}, "
            f"{c.nanos}, time.UTC)")
