"""Subscribers: telling the status page's subscribers about public incidents and maintenance
windows, by email and signed webhooks; docs/subscribers.md.

Apart from paging (own durable on INCIDENTS, own loop), so a subscriber's slow mail server never
holds back a page. Pure: `coalesce`, `payload`, `letter`, `destination`; adapters: `hook`
(posting), `digest_store`, and the notifier's one SMTP sender (`channels.smtp`); the use case:
`courier`; HTTP: `routes`; wiring: `wiring`.
"""
