"""The page's strings in every language shipped, and which one a reader gets.

Pure. A language is a dict of message ids to text; English is complete and the fallback of any
id another language lacks. The reader's language: the first of their Accept-Language that we
ship, else the page's `language` from herald.yaml, else English. The JSON API stays in English
(Statuspage's words: widgets compare them).
"""

from __future__ import annotations

from collections.abc import Mapping

ENGLISH: dict[str, str] = {
    "services": "Services",
    "current_incidents": "Current incidents",
    "no_open": "No open incidents.",
    "recently_resolved": "Recently resolved",
    "no_resolved": "No recent incidents.",
    "maintenance": "Scheduled maintenance",
    "no_maintenance": "No maintenance scheduled.",
    "history": "Incident history",
    "no_history": "No incidents in this period.",
    "history_unavailable": "Older incidents cannot be read right now; try again shortly.",
    "older": "Older",
    "newer": "Newer",
    "updated": "Updated",
    "live": "Live",
    "reconnecting": "Reconnecting…",
    "polling": "Checking every {seconds} s",
    "since": "since",
    "to": "to",
    "json_api": "JSON API",
    "atom": "Atom feed",
    "rss": "RSS feed",
    "back": "Back to the status page",
    "uptime": "{percent} uptime over {days} days",
    "uptime_day": "{date}: {status}",
    "no_data": "No data",
    "affects": "Affects",
    "timeline": "Updates",
    "not_found": "No such incident.",
    "changed": "{name}: {status}",
    "operational": "Operational",
    "degraded_performance": "Degraded Performance",
    "partial_outage": "Partial Outage",
    "major_outage": "Major Outage",
    "under_maintenance": "Under Maintenance",
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
    "indicator_none": "All Systems Operational",
    "indicator_minor": "Minor Service Outage",
    "indicator_minor_degraded": "Partially Degraded Service",
    "indicator_major": "Partial System Outage",
    "indicator_critical": "Major System Outage",
    "indicator_maintenance": "Service Under Maintenance",
    "sub_title": "Get updates",
    "sub_intro": "Be told when an incident opens, changes and is resolved.",
    "sub_email": "Email address",
    "sub_webhook": "Or a webhook URL",
    "sub_webhook_hint": "We POST a challenge to it; answer with the same challenge to subscribe.",
    "sub_components": "Components",
    "sub_all": "Everything",
    "sub_group": "(all its services)",
    "sub_button": "Subscribe",
    "sub_privacy": "We keep only the address and the components you chose. Every message has a one-click unsubscribe link.",
    "sub_invalid": "Please check the form",
    "sub_sent_email": "Thank you. If that address can receive mail, a confirmation link is on its way: open it to start your subscription.",
    "sub_sent_webhook": "Thank you. A challenge is on its way to the webhook: answer it to start your subscription.",
    "sub_confirm_intro": "Confirm your subscription to this status page.",
    "sub_confirm_button": "Confirm",
    "sub_confirmed": "You are subscribed. Every message carries a link to unsubscribe.",
    "sub_unsubscribe_intro": "Stop receiving updates from this status page?",
    "sub_unsubscribe_button": "Unsubscribe",
    "sub_unsubscribed": "You are unsubscribed; we no longer keep your address.",
    "sub_bad_link": "This link is invalid or has expired.",
    "sub_components_gone": "The components you chose are no longer on this status page, so you are not subscribed. Sign up again to choose others.",
    "sub_cross_origin": "This form must be sent from the status page itself.",
    "sub_too_many": "Too many sign-ups from your network; please try again later.",
    "sub_unavailable": "Sign-up is unavailable right now; please try again in a few minutes.",
    "sub_off": "This status page offers no subscriptions.",
    "sub_footer": "Get updates",
}

GERMAN: dict[str, str] = {
    "services": "Dienste",
    "current_incidents": "Aktuelle Störungen",
    "no_open": "Keine offenen Störungen.",
    "recently_resolved": "Kürzlich behoben",
    "no_resolved": "Keine Störungen in letzter Zeit.",
    "maintenance": "Geplante Wartung",
    "no_maintenance": "Keine Wartung geplant.",
    "history": "Störungsverlauf",
    "no_history": "Keine Störungen in diesem Zeitraum.",
    "history_unavailable": "Ältere Störungen können gerade nicht gelesen werden; bitte später erneut versuchen.",
    "older": "Älter",
    "newer": "Neuer",
    "updated": "Aktualisiert",
    "live": "Live",
    "reconnecting": "Verbinde neu…",
    "polling": "Prüfe alle {seconds} s",
    "since": "seit",
    "to": "bis",
    "json_api": "JSON-API",
    "atom": "Atom-Feed",
    "rss": "RSS-Feed",
    "back": "Zurück zur Statusseite",
    "uptime": "{percent} Verfügbarkeit in {days} Tagen",
    "uptime_day": "{date}: {status}",
    "no_data": "Keine Daten",
    "affects": "Betrifft",
    "timeline": "Meldungen",
    "not_found": "Diese Störung gibt es nicht.",
    "changed": "{name}: {status}",
    "operational": "Betriebsbereit",
    "degraded_performance": "Eingeschränkte Leistung",
    "partial_outage": "Teilausfall",
    "major_outage": "Schwerer Ausfall",
    "under_maintenance": "In Wartung",
    "investigating": "Wird untersucht",
    "identified": "Ursache erkannt",
    "monitoring": "Wird beobachtet",
    "resolved": "Behoben",
    "postmortem": "Nachbetrachtung",
    "scheduled": "Geplant",
    "in_progress": "Läuft",
    "verifying": "Wird geprüft",
    "completed": "Abgeschlossen",
    "indicator_none": "Alle Systeme betriebsbereit",
    "indicator_minor": "Kleinere Störung",
    "indicator_minor_degraded": "Teilweise eingeschränkt",
    "indicator_major": "Teilweiser Systemausfall",
    "indicator_critical": "Schwerer Systemausfall",
    "indicator_maintenance": "Wartungsarbeiten",
    "sub_title": "Benachrichtigungen",
    "sub_intro": "Erfahren Sie, wenn eine Störung beginnt, sich ändert und behoben ist.",
    "sub_email": "E-Mail-Adresse",
    "sub_webhook": "Oder eine Webhook-URL",
    "sub_webhook_hint": "Wir senden eine Challenge per POST; antworten Sie mit derselben Challenge.",
    "sub_components": "Komponenten",
    "sub_all": "Alles",
    "sub_group": "(alle Dienste darin)",
    "sub_button": "Abonnieren",
    "sub_privacy": "Wir speichern nur die Adresse und die gewählten Komponenten. Jede Nachricht enthält einen Abmeldelink.",
    "sub_invalid": "Bitte prüfen Sie das Formular",
    "sub_sent_email": "Danke. Wenn diese Adresse E-Mails empfangen kann, ist ein Bestätigungslink unterwegs.",
    "sub_sent_webhook": "Danke. Eine Challenge ist an den Webhook unterwegs: beantworten Sie sie, um zu abonnieren.",
    "sub_confirm_intro": "Bestätigen Sie Ihr Abonnement dieser Statusseite.",
    "sub_confirm_button": "Bestätigen",
    "sub_confirmed": "Sie haben abonniert. Jede Nachricht enthält einen Abmeldelink.",
    "sub_unsubscribe_intro": "Keine Benachrichtigungen dieser Statusseite mehr erhalten?",
    "sub_unsubscribe_button": "Abmelden",
    "sub_unsubscribed": "Sie sind abgemeldet; Ihre Adresse ist gelöscht.",
    "sub_bad_link": "Dieser Link ist ungültig oder abgelaufen.",
    "sub_components_gone": "Die gewählten Komponenten gibt es auf dieser Statusseite nicht mehr; Sie haben nichts abonniert. Melden Sie sich erneut an, um andere zu wählen.",
    "sub_cross_origin": "Dieses Formular muss von der Statusseite selbst gesendet werden.",
    "sub_too_many": "Zu viele Anmeldungen aus Ihrem Netz; bitte später erneut versuchen.",
    "sub_unavailable": "Die Anmeldung ist gerade nicht verfügbar; bitte in einigen Minuten erneut versuchen.",
    "sub_off": "Diese Statusseite bietet keine Abonnements an.",
    "sub_footer": "Benachrichtigungen",
}

LANGUAGES: Mapping[str, Mapping[str, str]] = {"en": ENGLISH, "de": GERMAN}
"""Every language shipped, by its BCP 47 primary tag."""

DESCRIPTION_IDS: dict[str, str] = {
    "All Systems Operational": "indicator_none",
    "Minor Service Outage": "indicator_minor",
    "Partially Degraded Service": "indicator_minor_degraded",
    "Partial System Outage": "indicator_major",
    "Major System Outage": "indicator_critical",
    "Service Under Maintenance": "indicator_maintenance",
}
"""The roll-up's English description (status.rollup) -> its message id."""


def strings(language: str) -> dict[str, str]:
    """Every message of `language`, English where it lacks one."""
    return {**ENGLISH, **LANGUAGES.get(language, {})}


def negotiate(accept_language: str | None, default: str = "en") -> str:
    """The reader's language: the best-weighted Accept-Language tag we ship (by its primary
    subtag: "de-CH" reads German), else `default` when shipped, else English."""
    choices: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and weight > 0:
            choices.append((-weight, n, primary))
    if choices:
        return min(choices)[2]
    return default if default in LANGUAGES else "en"
