"""iCalendar (RFC 5545) export of on-call shifts, per schedule and per user (pure).

The `icalendar` package writes the document, so line folding at 75 octets, CRLF line ends
and the escaping of commas, semicolons and newlines in names are right without code of ours.
Each shift is one VEVENT in UTC with a UID made of the schedule, the user and the shift's
start, so that a calendar client subscribed to the export updates its events instead of
adding them again.
"""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event

from herald.notifier.schedule import Shift, shifts, user_shifts
from herald.shared.config import HeraldConfig

PRODID = "-//Herald//On-call//EN"


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    return cal


def _event(schedule_id: str, shift: Shift, summary: str, description: str, now: datetime) -> Event:
    ev = Event()
    ev.add("uid", f"{schedule_id}.{shift.user}.{shift.start:%Y%m%dT%H%M%SZ}@herald")
    ev.add("dtstamp", now)
    ev.add("dtstart", shift.start)
    ev.add("dtend", shift.end)
    ev.add("summary", summary)
    ev.add("description", description)
    ev.add("transp", "TRANSPARENT")  # being on call does not make anyone busy
    return ev


def _user_name(config: HeraldConfig, user_id: str) -> str:
    user = config.users.get(user_id)
    return user.name if user is not None and user.name else user_id


def _schedule_name(config: HeraldConfig, schedule_id: str) -> str:
    sched = config.schedules.get(schedule_id)
    return sched.name if sched is not None and sched.name else schedule_id


def schedule_calendar(
    config: HeraldConfig, schedule_id: str, start: datetime, end: datetime, now: datetime
) -> bytes:
    """The shifts of schedule `schedule_id` overlapping [start, end), as an iCalendar
    document. KeyError when there is no such schedule."""
    schedule = config.schedules[schedule_id]
    title = _schedule_name(config, schedule_id)
    cal = _calendar(f"On call: {title}")
    for shift in shifts(schedule, start, end):
        who = _user_name(config, shift.user)
        cal.add_component(
            _event(schedule_id, shift, f"{who} on call", f"{who} is on call for {title}.", now)
        )
    return bytes(cal.to_ical())


def user_calendar(
    config: HeraldConfig, user_id: str, start: datetime, end: datetime, now: datetime
) -> bytes:
    """Every shift of user `user_id`, in every schedule, overlapping [start, end), as an
    iCalendar document. KeyError when there is no such user."""
    if user_id not in config.users:
        raise KeyError(user_id)
    who = _user_name(config, user_id)
    cal = _calendar(f"On call: {who}")
    for schedule_id, shift in user_shifts(config, user_id, start, end):
        title = _schedule_name(config, schedule_id)
        cal.add_component(
            _event(schedule_id, shift, f"On call: {title}", f"{who} is on call for {title}.", now)
        )
    return bytes(cal.to_ical())
