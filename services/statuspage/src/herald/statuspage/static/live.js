// Herald status page: live updates over Server-Sent Events.
// The page is complete without this script; this only keeps it true without a reload.
// Every value from the server is untrusted text: it is set with textContent, never as HTML.
(function () {
  "use strict";

  // The page's strings in the reader's language (the server picked it): data-strings on <body>.
  var T = {};
  try { T = JSON.parse(document.body.getAttribute("data-strings") || "{}"); } catch (err) { T = {}; }
  function word(key) { return Object.prototype.hasOwnProperty.call(T, key) ? T[key] : String(key); }
  var DESCRIPTIONS = {
    "All Systems Operational": "indicator_none",
    "Minor Service Outage": "indicator_minor",
    "Partially Degraded Service": "indicator_minor_degraded",
    "Partial System Outage": "indicator_major",
    "Major System Outage": "indicator_critical",
    "Service Under Maintenance": "indicator_maintenance"
  };
  var KINDS = ["incident.opened", "incident.updated", "incident.resolved", "component.status_changed",
    "maintenance.changed"];
  var versions = {};

  function byId(id) { return document.getElementById(id); }

  function utc(d) { return d.toISOString().slice(0, 16).replace("T", " ") + " UTC"; }

  // In the reader's time zone; the UTC time on hover (the server writes UTC, for no-JS readers).
  function human(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return String(iso); }
    try {
      return d.toLocaleString(document.documentElement.lang || undefined, {
        year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
      });
    } catch (err) { return utc(d); }
  }

  function localize(t) {
    var iso = t.getAttribute("datetime"), d = new Date(iso);
    if (!iso || isNaN(d.getTime())) { return; }
    t.textContent = human(iso);
    t.setAttribute("title", utc(d));
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function timeEl(className, iso) {
    var t = el("time", className, human(iso));
    t.setAttribute("datetime", String(iso));
    localize(t);
    return t;
  }

  function announce(text) {
    var a = byId("announcer");
    if (a) { a.textContent = String(text); }
  }

  function setComponent(c) {
    if (!c) { return; }
    var items = document.querySelectorAll("[data-component]");
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-component") !== String(c.id)) { continue; }
      var row = items[i].querySelector(".row > .status");
      if (!row) { continue; }
      row.className = "status status-" + String(c.status).replace(/[^a-z_]/g, "");
      row.setAttribute("data-status", String(c.status));
      row.textContent = word(c.status);
    }
  }

  function setBanner(s) {
    var banner = byId("banner");
    if (!banner || !s) { return; }
    var indicator = String(s.indicator).replace(/[^a-z]/g, "");
    banner.className = "banner indicator-" + indicator;
    banner.setAttribute("data-indicator", indicator);
    byId("banner-text").textContent = DESCRIPTIONS[s.description] ? word(DESCRIPTIONS[s.description]) : String(s.description);
  }

  function setTime(t, iso) {
    if (!t || !iso) { return; }
    t.setAttribute("datetime", String(iso));
    localize(t);
  }

  function setUpdated(iso) { setTime(byId("updated-at"), iso); }

  // The incident's timeline, newest first (as incident_updates are); the opening's text is
  // the incident's body. A maintenance window's updates are each of the status it reached.
  function timeline(inc, maintenance) {
    var ol = el("ol", "timeline"), updates = inc.incident_updates || [];
    ol.setAttribute("aria-label", String(inc.name));
    for (var i = 0; i < updates.length; i++) {
      var u = updates[i], first = i === updates.length - 1 && !maintenance;
      var kind = maintenance ? " update-maintenance-" + String(u.status).replace(/[^a-z_]/g, "") : (first ? " update-opened" : "");
      var li = el("li", "update" + kind);
      li.setAttribute("data-update", String(u.id));
      li.appendChild(el("span", "update-status", word(u.status)));
      li.appendChild(document.createTextNode(" · "));
      li.appendChild(timeEl("", u.display_at || u.created_at));
      li.appendChild(el("p", first ? "body" : "update-body", u.body));
      ol.appendChild(li);
    }
    return ol;
  }

  // An incident's own page (/incidents/<id>) follows its incident: status, end, timeline.
  function setIncidentPage(inc) {
    var article = byId("incident");
    if (!article || !inc || article.getAttribute("data-incident") !== String(inc.id)) { return; }
    var resolved = inc.status === "resolved" || inc.status === "postmortem";
    article.className = "incident-page" + (resolved ? " resolved" : " impact-" + String(inc.impact).replace(/[^a-z]/g, ""));
    var status = article.querySelector(".meta .incident-status");
    if (status) { status.textContent = word(inc.status); }
    var meta = article.querySelector("p.meta"), end = meta ? meta.querySelector("time.resolved-at") : null;
    if (meta && resolved && inc.resolved_at) {
      if (!end) {
        meta.appendChild(document.createTextNode(" " + word("to") + " "));
        end = meta.appendChild(timeEl("resolved-at", inc.resolved_at));
      }
      end.setAttribute("datetime", String(inc.resolved_at));
      localize(end);
    } else if (end) {  // reopened
      if (end.previousSibling && end.previousSibling.nodeType === 3) { meta.removeChild(end.previousSibling); }
      meta.removeChild(end);
    }
    var old = article.querySelector("ol.timeline");
    if (old) { old.parentNode.replaceChild(timeline(inc), old); }
  }

  // A maintenance window's own page (/incidents/<id>) follows its window: status, schedule,
  // updates, until it is completed or cancelled (the live documents carry the windows that
  // are over in `completed`).
  function setMaintenancePage(m) {
    var article = byId("maintenance");
    if (!article || !m || article.getAttribute("data-maintenance") !== String(m.id)) { return; }
    article.className = "incident-page maintenance maintenance-" + String(m.status).replace(/[^a-z_]/g, "");
    var title = article.querySelector("h1.title");
    if (title) { title.textContent = String(m.name); }
    var status = article.querySelector(".meta .incident-status");
    if (status) { status.textContent = word(m.status); }
    setTime(article.querySelector("time.scheduled-for"), m.scheduled_for);
    setTime(article.querySelector("time.scheduled-until"), m.scheduled_until);
    var old = article.querySelector("ol.timeline");
    if (old) { old.parentNode.replaceChild(timeline(m, true), old); }
  }

  function setMaintenancePages(d) {
    (d.maintenances || []).concat(d.completed || []).forEach(setMaintenancePage);
  }

  function incidentItem(inc) {
    var resolved = inc.status === "resolved" || inc.status === "postmortem";
    var li = el("li", resolved ? "incident resolved" : "incident impact-" + String(inc.impact).replace(/[^a-z]/g, ""));
    li.id = "incident-" + String(inc.id);
    li.setAttribute("data-incident", String(inc.id));
    var service = inc.components && inc.components.length ? inc.components[0] : null;
    if (service) { li.setAttribute("data-service", String(service.id)); }
    var h3 = el("h3", "title"), a = el("a", "", inc.name);
    a.setAttribute("href", "/incidents/" + encodeURIComponent(String(inc.id)));
    h3.appendChild(a);
    li.appendChild(h3);
    var meta = el("p", "meta");
    meta.appendChild(el("span", "incident-status", word(inc.status)));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("span", "service", service ? service.name : ""));
    meta.appendChild(document.createTextNode(resolved ? " · " : " · " + word("since") + " "));
    meta.appendChild(timeEl("started", inc.started_at));
    if (resolved && inc.resolved_at) {
      meta.appendChild(document.createTextNode(" " + word("to") + " "));
      meta.appendChild(timeEl("resolved-at", inc.resolved_at));
    }
    li.appendChild(meta);
    if (!resolved) { li.appendChild(timeline(inc)); }
    return li;
  }

  // Every copy of the incident on the page: an incident that reopens is in "Recently resolved"
  // until it is placed among the current ones again (and ids must stay unique).
  function removeIncident(id) {
    var lists = [byId("open-incidents"), byId("resolved-incidents")];
    for (var n = 0; n < lists.length; n++) {
      var items = lists[n] ? lists[n].querySelectorAll("[data-incident]") : [];
      for (var i = 0; i < items.length; i++) {
        if (items[i].getAttribute("data-incident") === String(id)) {
          items[i].parentNode.removeChild(items[i]);
        }
      }
    }
  }

  function resolvedAt(item) {
    var t = item.querySelector("time.resolved-at");
    return t ? String(t.getAttribute("datetime") || "") : "";
  }

  // "Recently resolved" is ordered as the server orders it: newest resolution first (the
  // times are all ISO 8601 UTC with milliseconds, so they compare as strings).
  function placeResolved(list, inc) {
    removeIncident(inc.id);
    var item = incidentItem(inc), at = resolvedAt(item), next = list.firstElementChild;
    while (next && resolvedAt(next) >= at) { next = next.nextElementSibling; }
    list.insertBefore(item, next);
  }

  // A service's resolved incidents, as the server holds them (at most its history_size):
  // they replace what the list showed for that service, so the live page and a reload agree.
  function setRecent(service, recent) {
    var list = byId("resolved-incidents");
    if (!list || !recent) { return; }
    var items = list.querySelectorAll("[data-service]");
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-service") === String(service)) {
        items[i].parentNode.removeChild(items[i]);
      }
    }
    recent.forEach(function (inc) { placeResolved(list, inc); });
  }

  function placeOpen(inc) {
    removeIncident(inc.id);
    var list = byId("open-incidents");
    if (list) { list.insertBefore(incidentItem(inc), list.firstChild); }
  }

  function refreshEmpty() {
    var open = byId("open-incidents"), resolved = byId("resolved-incidents");
    if (byId("no-open")) { byId("no-open").hidden = !!(open && open.children.length); }
    if (byId("no-resolved")) { byId("no-resolved").hidden = !!(resolved && resolved.children.length); }
  }

  function clear(list) {
    while (list && list.firstChild) { list.removeChild(list.firstChild); }
  }

  // A component's uptime bars (a bar a day, oldest first, the last one today): the days the
  // server sent (runs of [status, days]) from `from` on, in the words the server-rendered page
  // uses.
  function setBars(service, b) {
    if (!b || !b.days) { return; }
    var days = [];
    b.days.forEach(function (run) {
      for (var k = 0; k < Math.min(Number(run[1]) || 0, 400); k++) { days.push(run[0]); }
    });
    var row = null, items = document.querySelectorAll("li.component[data-component]");
    for (var i = 0; i < items.length; i++) {
      if (items[i].getAttribute("data-component") === String(service)) { row = items[i]; }
    }
    var list = row ? row.querySelector("ol.bars") : null;
    if (!list) { return; }
    var start = new Date(String(b.from) + "T00:00:00Z");
    if (isNaN(start.getTime())) { return; }
    for (var n = 0; n < days.length; n++) {
      var day = new Date(start.getTime() + n * 86400000).toISOString().slice(0, 10);
      var status = String(days[n]).replace(/[^a-z_]/g, "");
      var bar = list.querySelector('li.bar[data-date="' + day + '"]');
      if (!bar) {
        // A day the page did not have yet (it stayed open past midnight): it comes last, and
        // the oldest day leaves, so the page keeps its number of days.
        bar = el("li", "");
        bar.setAttribute("data-date", day);
        bar.appendChild(el("span", "visually-hidden", ""));
        list.appendChild(bar);
        if (list.children.length > (b.count || list.children.length)) { list.removeChild(list.firstElementChild); }
      }
      var text = word("uptime_day").replace("{date}", day).replace("{status}", status === "none" ? word("no_data") : word(status));
      bar.className = "bar bar-" + status;
      bar.setAttribute("title", text);
      var hidden = bar.querySelector(".visually-hidden");
      if (hidden) { hidden.textContent = text; }
    }
    var summary = word("uptime").replace("{percent}", b.percent === null || b.percent === undefined ? word("no_data") : String(b.percent))
      .replace("{days}", String(list.children.length));
    list.setAttribute("aria-label", summary);
    var p = row.querySelector(".uptime-summary");
    if (p) { p.textContent = summary; }
  }

  function maintenanceItem(m) {
    var li = el("li", "incident maintenance");
    li.setAttribute("data-maintenance", String(m.id));
    var h3 = el("h3", "title"), a = el("a", "", m.name);
    a.setAttribute("href", "/incidents/" + encodeURIComponent(String(m.id)));
    h3.appendChild(a);
    li.appendChild(h3);
    var meta = el("p", "meta");
    meta.appendChild(el("span", "incident-status", word(m.status)));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(timeEl("", m.scheduled_for));
    meta.appendChild(document.createTextNode(" " + word("to") + " "));
    meta.appendChild(timeEl("", m.scheduled_until));
    var names = (m.components || []).map(function (c) { return String(c.name); });
    if (names.length) { meta.appendChild(document.createTextNode(" · " + word("affects") + ": " + names.join(", "))); }
    li.appendChild(meta);
    return li;
  }

  // The maintenance list (active windows, then upcoming ones), as the server lists it.
  function setMaintenances(windows) {
    var list = byId("maintenances");
    if (!list || !windows) { return; }
    clear(list);
    windows.forEach(function (m) { list.appendChild(maintenanceItem(m)); });
    if (byId("no-maintenance")) { byId("no-maintenance").hidden = windows.length > 0; }
  }

  function applySnapshot(d) {
    versions = d.versions || {};
    (d.components || []).forEach(setComponent);
    setBanner(d.status);
    setUpdated(d.page && d.page.updated_at);
    var open = byId("open-incidents"), resolved = byId("resolved-incidents");
    clear(open);
    clear(resolved);
    (d.incidents || []).forEach(function (inc) { if (open) { open.appendChild(incidentItem(inc)); } });
    (d.resolved || []).forEach(function (inc) { if (resolved) { resolved.appendChild(incidentItem(inc)); } });
    (d.incidents || []).concat(d.resolved || []).forEach(setIncidentPage);
    setMaintenances(d.maintenances);
    setMaintenancePages(d);
    var bars = d.bars || {};
    Object.keys(bars).forEach(function (service) { setBars(service, bars[service]); });
    refreshEmpty();
  }

  function applyChange(d) {
    var known = versions[d.service];
    if (known !== undefined && d.version <= known) { return; }
    versions[d.service] = d.version;
    setComponent(d.component);
    setComponent(d.group);
    setBanner(d.status);
    setUpdated(d.component && d.component.updated_at);
    var open = byId("open-incidents");
    var items = open ? open.querySelectorAll("[data-service]") : [];
    for (var i = 0; i < items.length; i++) {
      var same = d.incident && items[i].getAttribute("data-incident") === String(d.incident.id);
      if (items[i].getAttribute("data-service") === String(d.service) && !same) {
        items[i].parentNode.removeChild(items[i]);
      }
    }
    setRecent(d.service, d.recent);
    if (d.incident) { placeOpen(d.incident); }
    setIncidentPage(d.incident);
    (d.recent || []).forEach(setIncidentPage);
    setMaintenances(d.maintenances);
    setMaintenancePages(d);
    setBars(d.service, d.bars);
    refreshEmpty();
    if (d.component) {
      announce(word("changed").replace("{name}", String(d.component.name)).replace("{status}", word(d.component.status)));
    }
  }

  function handler(apply) {
    return function (e) {
      var data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      apply(data);
    };
  }

  // When the live stream is refused (a server at its connection limit answers 503, after
  // which EventSource gives up), the page polls /api/page.json: the very document the stream's
  // snapshot carries, rendered by applySnapshot, so a polling page shows what a live one does.
  // How often: <body data-poll-seconds> (HERALD_STATUSPAGE_POLL_SECONDS, 30 by default).
  var POLL_SECONDS = Math.max(1, Math.floor(Number(document.body.getAttribute("data-poll-seconds"))) || 30);
  var POLL_MS = POLL_SECONDS * 1000;
  var LIVE_AGAIN_MS = 4 * POLL_MS;  // then the live stream is tried again (2 minutes by default)
  var live = byId("live"), reconnecting = byId("reconnecting");

  function showConnection(state) {
    if (live) { live.hidden = state !== "live"; }
    if (reconnecting) {
      reconnecting.hidden = state === "live";
      reconnecting.textContent = state === "polling" ? word("polling").replace("{seconds}", String(POLL_SECONDS)) : word("reconnecting");
    }
  }

  var shown = null;  // the ETag of the page last polled and rendered

  // A conditional GET (the browser revalidates its copy): an unchanged page is not redrawn.
  function poll() {
    window.fetch("/api/page.json", { cache: "no-cache", headers: { Accept: "application/json" } })
      .then(function (r) {
        var tag = r.headers.get("ETag");
        if (!r.ok || (tag && tag === shown)) { return null; }
        return r.json().then(function (d) { applySnapshot(d); shown = tag; });
      })
      .catch(function () {});
  }

  // Poll until it is time to try the live stream again (a snapshot then brings the page up to date).
  function pollForAWhile() {
    if (!window.fetch) { return; }
    var waited = 0;
    shown = null;
    poll();
    var timer = window.setInterval(function () {
      waited += POLL_MS;
      if (waited >= LIVE_AGAIN_MS) {
        window.clearInterval(timer);
        connect();
        return;
      }
      poll();
    }, POLL_MS);
  }

  function connect() {
    var source = new EventSource("/events");
    source.addEventListener("snapshot", handler(applySnapshot));
    KINDS.forEach(function (kind) { source.addEventListener(kind, handler(applyChange)); });
    source.onopen = function () { showConnection("live"); };
    source.onerror = function () {
      showConnection(source.readyState === EventSource.CLOSED ? "polling" : "reconnecting");
      // CONNECTING: the browser reconnects by itself (and resumes with Last-Event-ID).
      // CLOSED: the server refused the stream (503 at its connection limit): poll instead.
      if (source.readyState === EventSource.CLOSED) { pollForAWhile(); }
    };
  }

  var times = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) { localize(times[i]); }
  if (!window.EventSource) { return; }
  connect();
})();
