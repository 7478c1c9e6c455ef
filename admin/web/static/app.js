// Palio admin page: plain JavaScript, no build step. Forms and buttons
// with data-api send JSON to the API with the session's CSRF token; the
// live page follows /admin/events (server-sent events).
"use strict";

const csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";

async function api(method, url, body) {
  const opts = {method, credentials: "same-origin", headers: {"X-CSRF-Token": csrf}};
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(url, opts);
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch (e) { data = {error: text}; } }
  return {ok: res.ok, status: res.status, data};
}

function then(el) {
  const t = el.dataset.then;
  if (t === "reload") location.reload();
  else if (t) location.assign(t);
}

// formBody reads a form's named fields: data-list fields become arrays,
// data-int fields numbers (what is not one is sent as typed, for the API
// to name), checkboxes booleans; in a data-off form an empty field is
// sent as that value; a data-omit-empty field is left out when empty.
function formBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") { body[el.name] = el.checked; continue; }
    let v = el.value.trim();
    if ("int" in el.dataset) { body[el.name] = /^-?[0-9]+$/.test(v) ? Number(v) : v; continue; }
    if (v === "" && "omitEmpty" in el.dataset) continue;
    if ("list" in el.dataset) { body[el.name] = v ? v.split(",").map(s => s.trim()).filter(Boolean) : []; continue; }
    if (v === "" && form.dataset.off) v = form.dataset.off;
    body[el.name] = v;
  }
  return body;
}

function showError(form, data) {
  const box = form.querySelector(".error");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const msg = (data && data.error) || "failed";
  const field = data && data.field && form.elements.namedItem(data.field);
  if (field && field.setAttribute) {
    field.setAttribute("aria-invalid", "true");
    if (box) { box.id = box.id || form.id + "-error" || "form-error"; field.setAttribute("aria-describedby", box.id); }
    field.focus();
  }
  if (box) box.textContent = (data && data.field ? data.field + ": " : "") + msg;
}

document.addEventListener("submit", async (ev) => {
  const form = ev.target;
  if (!form.dataset.api) return;
  ev.preventDefault();
  const status = form.querySelector(".status");
  if (status) status.textContent = "";
  const body = formBody(form);
  let url = form.dataset.api;
  // data-api-field: that field names the resource, at the end of the URL
  // (then data-api-suffix, if any: the action on it).
  const key = form.dataset.apiField;
  if (key) { url += encodeURIComponent(body[key] || "") + (form.dataset.apiSuffix || ""); delete body[key]; }
  const r = await api(form.dataset.method || "POST", url, body);
  if (!r.ok) { showError(form, r.data); return; }
  showError(form, null);
  const box = form.querySelector(".error");
  if (box) box.textContent = "";
  if (status) status.textContent = "Saved.";
  then(form);
});

document.addEventListener("click", async (ev) => {
  const b = ev.target.closest("button");
  if (!b) return;
  if (b.id === "logout") {
    await api("POST", "/admin/api/logout");
    location.assign("/admin/login");
    return;
  }
  const url = b.dataset.api || (b.dataset.hangup && "/admin/api/calls/" + encodeURIComponent(b.dataset.hangup) + "/hangup");
  if (!url) return;
  b.disabled = true;
  const r = await api(b.dataset.method || "POST", url);
  b.disabled = false;
  const status = document.getElementById("live-status");
  if (!r.ok && status) status.textContent = (r.data && r.data.error) || "failed";
  if (r.ok && status && b.dataset.done) status.textContent = b.dataset.done;
  if (r.ok) then(b);
});

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function renderLive(s) {
  const calls = document.getElementById("calls");
  if (calls) {
    calls.replaceChildren();
    for (const c of s.calls) {
      const tr = document.createElement("tr");
      tr.dataset.callid = c.callid;
      cell(tr, c.callid, "mono"); cell(tr, c.from); cell(tr, c.to); cell(tr, c.node ? c.state + " on " + c.node : c.state); cell(tr, c.gateway || "");
      cell(tr, new Date(c.start).toLocaleTimeString()); cell(tr, String(c.seconds));
      const b = document.createElement("button");
      b.type = "button"; b.dataset.hangup = c.callid; b.textContent = "Hang up";
      b.setAttribute("aria-label", "Hang up " + c.from + " to " + c.to);
      cell(tr, "").appendChild(b);
      calls.appendChild(tr);
    }
    if (!s.calls.length) {
      const tr = document.createElement("tr"); tr.className = "empty";
      cell(tr, "No calls.").colSpan = 8; calls.appendChild(tr);
    }
    document.getElementById("calls-count").textContent = String(s.calls.length);
  }
  const gws = document.getElementById("gateways");
  if (gws) {
    gws.replaceChildren();
    for (const g of s.gateways) {
      const tr = document.createElement("tr");
      tr.dataset.gateway = g.id;
      cell(tr, g.id); cell(tr, g.state); cell(tr, g.calls + " / " + (g.channels || "∞")); cell(tr, g.alarm ? "yes" : "no");
      const b = document.createElement("button");
      const on = g.state === "disabled";
      b.type = "button"; b.dataset.method = "POST";
      b.dataset.api = "/admin/api/gateways/" + encodeURIComponent(g.id) + (on ? "/enable" : "/disable");
      b.textContent = on ? "Enable" : "Disable";
      cell(tr, "").appendChild(b);
      gws.appendChild(tr);
    }
  }
  const crs = document.getElementById("carriers");
  if (crs && s.carriers) {
    crs.replaceChildren();
    for (const c of s.carriers) {
      const tr = document.createElement("tr");
      tr.dataset.carrier = c.id;
      cell(tr, c.id); cell(tr, c.gateways || ""); cell(tr, c.state); cell(tr, c.calls + " / " + (c.channels || "∞"));
      const b = document.createElement("button");
      const on = c.state === "disabled";
      b.type = "button"; b.dataset.method = "POST";
      b.dataset.api = "/admin/api/carriers/" + encodeURIComponent(c.id) + (on ? "/enable" : "/disable");
      b.textContent = on ? "Enable" : "Disable";
      b.setAttribute("aria-label", (on ? "Enable" : "Disable") + " carrier " + c.id);
      cell(tr, "").appendChild(b);
      crs.appendChild(tr);
    }
    if (!s.carriers.length) {
      const tr = document.createElement("tr"); tr.className = "empty";
      cell(tr, "No carriers.").colSpan = 5; crs.appendChild(tr);
    }
  }
}

if (document.getElementById("calls") && window.EventSource) {
  const es = new EventSource("/admin/events");
  es.addEventListener("live", (e) => renderLive(JSON.parse(e.data)));
  document.body.dataset.live = "connecting";
  es.onopen = () => { document.body.dataset.live = "open"; };
  es.onerror = () => { document.body.dataset.live = "retrying"; };
  window.addEventListener("pagehide", () => es.close());
}
