"""English dates: 24-hour clock, and every time says its zone (T: CET, UTC, ...)."""

DATE_FORMAT = "M j, Y"
TIME_FORMAT = "H:i T"
DATETIME_FORMAT = "M j, Y, H:i:s T"
SHORT_DATETIME_FORMAT = "M j, H:i T"
SHORT_DATE_FORMAT = "Y-m-d"
# What the "Retry all failed since" field accepts; the first is what it shows.
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
