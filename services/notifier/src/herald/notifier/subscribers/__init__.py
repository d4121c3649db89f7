"""Subscribers: telling the status page's subscribers about public incidents (and, once those
events exist, maintenance), by email and signed webhooks; docs/subscribers.md.

Apart from paging (own durable on INCIDENTS, own loop), so a subscriber's slow mail server never
holds back a page. Pure: `coalesce`, `payload`, `letter`, `destination`; adapters: `mailer`,
`hook`, `digest_store`; the use case: `courier`; HTTP: `routes`; wiring: `wiring`.
"""
