// Herald status page: live updates over Server-Sent Events.
// The page is complete without this script; this only keeps it true without a reload.
// Every value from the server is untrusted text: it is set with textContent, never as HTML.
(function () {
  "use strict";

  var WORDS = {
    operational: "Operational",
    degraded_performance: "Degraded Performance",
    partial_outage: "Partial Outage",
    major_outage: "Major Outage",
    under_maintenance: "Under Maintenance"
  };
  var INCIDENT_WORDS = {
    investigating: "Investigating",
    identified: "Identified",
    monitoring: "Monitoring",
    resolved: "Resolved",
    postmortem: "Postmortem"
  };
  var KINDS = ["incident.opened", "incident.updated", "incident.resolved", "component.status_changed"];
  var versions = {};

  function byId(id) { return document.getElementById(id); }

  function human(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return String(iso); }
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
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
    return t;
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
      row.textContent = WORDS[c.status] || String(c.status);
    }
  }

  function setBanner(s) {
    var banner = byId("banner");
    if (!banner || !s) { return; }
    var indicator = String(s.indicator).replace(/[^a-z]/g, "");
    banner.className = "banner indicator-" + indicator;
    banner.setAttribute("data-indicator", indicator);
    byId("banner-text").textContent = String(s.description);
  }

  function setUpdated(iso) {
    var t = byId("updated-at");
    if (!t || !iso) { return; }
    t.setAttribute("datetime", String(iso));
    t.textContent = human(iso);
  }

  function firstBody(inc) {
    var updates = inc.incident_updates || [];
    return updates.length ? updates[updates.length - 1].body : "";
  }

  function incidentItem(inc) {
    var resolved = inc.status === "resolved" || inc.status === "postmortem";
    var li = el("li", resolved ? "incident resolved" : "incident impact-" + String(inc.impact).replace(/[^a-z]/g, ""));
    li.id = "incident-" + String(inc.id);
    li.setAttribute("data-incident", String(inc.id));
    var service = inc.components && inc.components.length ? inc.components[0] : null;
    if (service) { li.setAttribute("data-service", String(service.id)); }
    li.appendChild(el("h3", "title", inc.name));
    var meta = el("p", "meta");
    meta.appendChild(el("span", "incident-status", INCIDENT_WORDS[inc.status] || String(inc.status)));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("span", "service", service ? service.name : ""));
    meta.appendChild(document.createTextNode(resolved ? " · " : " · since "));
    meta.appendChild(timeEl("started", inc.started_at));
    if (resolved && inc.resolved_at) {
      meta.appendChild(document.createTextNode(" to "));
      meta.appendChild(timeEl("resolved-at", inc.resolved_at));
    }
    li.appendChild(meta);
    li.appendChild(el("p", "body", firstBody(inc)));
    return li;
  }

  function removeIncident(id) {
    var old = byId("incident-" + String(id));
    if (old && old.parentNode) { old.parentNode.removeChild(old); }
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
    byId("no-open").hidden = !!(open && open.children.length);
    byId("no-resolved").hidden = !!(resolved && resolved.children.length);
  }

  function clear(list) {
    while (list && list.firstChild) { list.removeChild(list.firstChild); }
  }

  function applySnapshot(d) {
    versions = d.versions || {};
    (d.components || []).forEach(setComponent);
    setBanner(d.status);
    setUpdated(d.page && d.page.updated_at);
    var open = byId("open-incidents"), resolved = byId("resolved-incidents");
    clear(open);
    clear(resolved);
    (d.incidents || []).forEach(function (inc) { open.appendChild(incidentItem(inc)); });
    (d.resolved || []).forEach(function (inc) { resolved.appendChild(incidentItem(inc)); });
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
    refreshEmpty();
  }

  function handler(apply) {
    return function (e) {
      var data;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      apply(data);
    };
  }

  // The JSON API, for when the live stream is refused (a server at its connection limit
  // answers 503, after which EventSource gives up): the same renderers, from summary.json.
  function applySummary(d) {
    (d.components || []).forEach(setComponent);
    setBanner(d.status);
    setUpdated(d.page && d.page.updated_at);
    var open = byId("open-incidents");
    clear(open);
    (d.incidents || []).forEach(function (inc) { open.appendChild(incidentItem(inc)); });
    refreshEmpty();
  }

  var POLL_MS = 30000;
  var LIVE_AGAIN_MS = 120000;
  var live = byId("live");

  function poll() {
    window.fetch("/api/v2/summary.json", { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { applySummary(d); } })
      .catch(function () {});
  }

  // Poll until it is time to try the live stream again (a snapshot then brings the page up to date).
  function pollForAWhile() {
    if (!window.fetch) { return; }
    var waited = 0;
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
    source.onopen = function () { if (live) { live.hidden = false; } };
    source.onerror = function () {
      if (live) { live.hidden = true; }
      // CONNECTING: the browser reconnects by itself (and resumes with Last-Event-ID).
      // CLOSED: the server refused the stream (503 at its connection limit): poll instead.
      if (source.readyState === EventSource.CLOSED) { pollForAWhile(); }
    };
  }

  if (!window.EventSource) { return; }
  connect();
})();
