// nonstop's web dashboard: one page, no outside code. It calls this daemon's /api with the
// token typed into the login form (or given once in the URL fragment #token=...), and
// follows the cluster's events (/api/stream) to show every change within a moment.
"use strict";

const TOKEN_KEY = "nonstop-token";
const main = document.getElementById("main");
const who = document.getElementById("who");
const banner = document.getElementById("banner");
const logout = document.getElementById("logout");

let status = null;      // the last /api/status
let lastRevision = 0;   // the last event seen
let render = null;      // the current page's redraw
let streamAbort = null;
let redrawTimer = null;
let flash = {};          // the last action's outcome, on its group's page
// Forms live as long as their page: a redraw on a cluster event puts the same form back, so
// what is typed, chosen or focused there stays (and so do references to its fields).
let forms = new Map();

// A token in the fragment is taken, then removed from the address bar (the fragment never
// reaches the server, nor its logs). Whether there was one.
function takeFragmentToken() {
  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (!m) return false;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  history.replaceState(null, "", location.pathname + "#/");
  return true;
}
takeFragmentToken();

function token() { return sessionStorage.getItem(TOKEN_KEY); }
function secure() { return location.protocol === "https:"; }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function stateSpan(s) {
  return el("span", { class: "state state-" + s, "data-state": s }, s || "—");
}

function time(ms) {
  const d = new Date(ms);
  return d.toLocaleString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, body) {
  const headers = { "Accept": "application/json" };
  const t = token();
  if (t) headers["Authorization"] = "Bearer " + t;
  const init = { headers };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data.error || r.statusText);
  return data;
}

function mayAdmin() {
  return status && ["admin", "insecure"].includes(status.caller_role);
}

function mayOperate() {
  return status && ["operator", "admin", "insecure"].includes(status.caller_role);
}

function showBanner(text, bad) {
  banner.textContent = text;
  banner.className = bad ? "bad" : "";
  banner.hidden = !text;
}

function showLogin(message) {
  stopStream();
  who.textContent = "";
  logout.hidden = true;
  main.replaceChildren(document.getElementById("login").content.cloneNode(true));
  const form = document.getElementById("login-form");
  document.getElementById("login-error").textContent = message || "";
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, form.token.value.trim());
    start();
  });
  form.token.focus();
}

logout.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin("Logged out.");
});

async function refreshStatus() {
  status = await api("/api/status");
  who.textContent = status.caller_role === "insecure"
    ? "not authenticated (insecure cluster)"
    : status.caller;
  logout.hidden = !token();
  if (status.caller_role === "insecure") {
    showBanner("INSECURE: this cluster runs without TLS; nobody is authenticated and every action is allowed.", true);
  } else if (status.drill) {
    showBanner("A drill is running: " + status.drill, false);
  } else {
    showBanner("", false);
  }
  return status;
}

// ---------------------------------------------------------------- pages

function pageCluster() {
  const s = status;
  const leader = s.members.find((m) => m.role === "leader");
  const up = s.nodes.filter((n) => n.state === "Up").length;
  const online = s.groups.filter((g) => g.state === "Online").length;
  return [
    el("h1", {}, "Cluster"),
    el("div", { class: "grid" },
      el("div", { class: "card" }, el("div", { class: "hint" }, "Leader"),
        el("div", { class: "big", id: "leader" }, s.leader_node || (leader ? "member " + leader.id : "none")),
        el("div", { class: "hint" }, "term " + s.term + ", revision " + s.revision)),
      el("div", { class: "card" }, el("div", { class: "hint" }, "Nodes up"),
        el("div", { class: "big" }, up + " / " + s.nodes.length)),
      el("div", { class: "card" }, el("div", { class: "hint" }, "Groups online"),
        el("div", { class: "big" }, online + " / " + s.groups.length))),
    el("h2", {}, "Groups"),
    el("table", { id: "groups" },
      el("thead", {}, el("tr", {}, el("th", {}, "Group"), el("th", {}, "State"), el("th", {}, "Owner"), el("th", {}, "Owners, in order"))),
      el("tbody", {}, s.groups.map((g) => el("tr", { "data-group": g.name },
        el("td", {}, el("a", { href: "#/group/" + encodeURIComponent(g.name) }, g.name)),
        el("td", {}, stateSpan(g.state), g.moving_to ? " → " + g.moving_to : "", g.held ? " (held: " + g.held + ")" : ""),
        el("td", { class: "owner" }, g.owner || "—"),
        el("td", {}, g.owners.join(", ")))))),
    el("h2", {}, "Nodes"),
    el("table", { id: "nodes" },
      el("thead", {}, el("tr", {}, el("th", {}, "Node"), el("th", {}, "State"), el("th", {}, "Groups"), el("th", {}, "Fence"))),
      el("tbody", {}, s.nodes.map((n) => el("tr", { "data-node": n.name },
        el("td", {}, n.name, n.witness ? " (witness)" : ""),
        el("td", {}, stateSpan(n.state)),
        el("td", {}, n.groups.join(", ") || "—"),
        el("td", {}, n.fence || "—"))))),
    el("h2", {}, "Controller members"),
    el("table", { id: "members" },
      el("thead", {}, el("tr", {}, el("th", {}, "Id"), el("th", {}, "Address"), el("th", {}, "Role"))),
      el("tbody", {}, s.members.map((m) => el("tr", {},
        el("td", {}, String(m.id)), el("td", {}, m.address), el("td", {}, m.role))))),
  ];
}

// The dependency graph: each resource in the column of its depth (what it depends on to the
// left), an arrow from each dependency.
function graph(resources) {
  const byName = new Map(resources.map((r) => [r.name, r]));
  const depth = new Map();
  const depthOf = (n, seen = new Set()) => {
    if (depth.has(n)) return depth.get(n);
    if (seen.has(n)) return 0;
    seen.add(n);
    const r = byName.get(n);
    const d = r && r.depends_on.length ? 1 + Math.max(...r.depends_on.map((x) => depthOf(x, seen))) : 0;
    depth.set(n, d);
    return d;
  };
  resources.forEach((r) => depthOf(r.name));
  const cols = [];
  for (const r of resources) (cols[depth.get(r.name)] ||= []).push(r.name);
  const W = 170, H = 34, GX = 60, GY = 16;
  const pos = new Map();
  cols.forEach((names, c) => names.forEach((n, i) => pos.set(n, [10 + c * (W + GX), 10 + i * (H + GY)])));
  const width = 20 + cols.length * (W + GX);
  const height = 20 + Math.max(1, ...cols.map((c) => c.length)) * (H + GY);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "graph");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Dependencies: " + resources.map((r) =>
    r.name + (r.depends_on.length ? " needs " + r.depends_on.join(", ") : "")).join("; "));
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    svg.append(e);
  };
  for (const r of resources) for (const d of r.depends_on) {
    const a = pos.get(d), b = pos.get(r.name);
    if (a && b) add("line", { x1: a[0] + W, y1: a[1] + H / 2, x2: b[0], y2: b[1] + H / 2 });
  }
  for (const r of resources) {
    const [x, y] = pos.get(r.name);
    add("rect", { x, y, width: W, height: H });
    add("text", { x: x + 8, y: y + 21 }, r.name + " · " + r.state);
  }
  return svg;
}

async function pageGroup(name) {
  const { group: g, resources } = await api("/api/groups/" + encodeURIComponent(name));
  const out = [
    el("p", {}, el("a", { href: "#/" }, "Cluster"), " / group"),
    el("h1", {}, "Group ", g.name, " ", stateSpan(g.state)),
    el("p", { id: "owner" }, "Owner: ", el("strong", {}, g.owner || "none"),
      g.moving_to ? " (moving to " + g.moving_to + ")" : "",
      " · target " + g.target + " · fail-back " + g.failback + " · epoch " + g.epoch),
    g.held ? el("p", { class: "error" }, "Held: " + g.held) : null,
  ];
  if (mayOperate()) {
    const select = el("select", { id: "move-to", name: "to" },
      el("option", { value: "" }, "the best owner"),
      g.owners.filter((n) => n !== g.owner).map((n) => el("option", { value: n }, n)));
    // The last action's outcome stays shown across redraws (each event redraws the page).
    const result = el("p", { id: "action-result", role: "status", class: flash.bad ? "error" : null },
      flash.group === g.name ? flash.text : "");
    const act = async (button, path, body) => {
      button.disabled = true;
      result.textContent = "…";
      try {
        const r = await api(path, body);
        flash = { group: g.name, text: "Done (revision " + r.revision + ").", bad: false };
      } catch (e) {
        flash = { group: g.name, text: e.message, bad: true };
      } finally {
        button.disabled = false;
      }
      result.className = flash.bad ? "error" : "";
      result.textContent = flash.text;
    };
    const base = "/api/groups/" + encodeURIComponent(g.name);
    const move = el("button", { type: "button", id: "move" }, "Move");
    move.addEventListener("click", () => act(move, base + "/move", { to: select.value }));
    const on = el("button", { type: "button", id: "online", class: "secondary" }, "Online");
    on.addEventListener("click", () => act(on, base + "/target", { target: "online" }));
    const off = el("button", { type: "button", id: "offline", class: "secondary" }, "Offline");
    off.addEventListener("click", () => act(off, base + "/target", { target: "offline" }));
    out.push(el("div", { class: "actions", role: "group", "aria-label": "Actions" },
      el("div", {}, el("label", { for: "move-to" }, "Move to"), select), move, on, off), result);
  } else {
    out.push(el("p", { class: "hint", id: "no-actions" }, "Your role (" + status.caller_role + ") may look, not act."));
  }
  out.push(
    el("h2", {}, "Owners, in order"),
    el("ol", { id: "owners" }, g.owners.map((n) => el("li", {}, n, n === g.owner ? " (owner)" : ""))),
    el("h2", {}, "Resources"),
    resources.length ? graph(resources) : el("p", {}, "None."),
    el("table", { id: "resources" },
      el("thead", {}, el("tr", {}, el("th", {}, "Resource"), el("th", {}, "Type"), el("th", {}, "State"), el("th", {}, "Depends on"), el("th", {}, "Message"))),
      el("tbody", {}, resources.map((r) => el("tr", { "data-resource": r.name },
        el("td", {}, el("a", { href: "#/resource/" + encodeURIComponent(r.name) }, r.name)),
        el("td", {}, r.type), el("td", {}, stateSpan(r.state)),
        el("td", {}, r.depends_on.join(", ") || "—"), el("td", {}, r.message || ""))))));
  return out;
}

function fieldFor(p, value) {
  const id = "prop-" + p.name;
  const common = { id, name: p.name, "aria-describedby": id + "-help " + id + "-error" };
  let input;
  if (p.kind === "enum") {
    input = el("select", common, p.required ? null : el("option", { value: "" }, "(default)"),
      p.constraint.split("|").filter(Boolean).map((c) => el("option", { value: c, selected: value !== undefined && c === String(value) }, c)));
  } else if (p.kind === "bool") {
    input = el("select", common, el("option", { value: "" }, "(default)"),
      ["true", "false"].map((c) => el("option", { value: c, selected: value !== undefined && c === String(value) }, c)));
  } else if (p.kind === "list") {
    // One item per line, exactly as the cluster holds them (items may hold spaces).
    input = el("textarea", common);
    input.value = Array.isArray(value) ? value.join("\n") : (value === undefined ? "" : String(value));
  } else {
    input = el("input", Object.assign({ type: "text", inputmode: p.kind === "int" ? "numeric" : null }, common));
    input.value = value === undefined || value === null ? "" : String(value);
  }
  const help = [p.kind, p.required ? "required" : null, p.default ? "default " + p.default : null,
    p.constraint ? p.constraint : null].filter(Boolean).join(" · ");
  return el("div", { class: "field", "data-field": p.name },
    el("label", { for: id }, p.name),
    input,
    el("div", { class: "hint", id: id + "-help" }, help, p.description ? " — " + p.description : ""),
    el("div", { class: "field-error", id: id + "-error", role: "alert" }));
}

async function pageResource(name) {
  const { resource: r, values, schema } = await api("/api/resources/" + encodeURIComponent(name));
  const r0 = r;
  const kept = forms.get("resource:" + name);
  const form = kept || el("form", { id: "properties", novalidate: true },
    schema.map((p) => fieldFor(p, values[p.name])),
    el("p", { class: "error", id: "form-error", role: "alert" }),
    el("div", { class: "actions" },
      el("button", { type: "submit", id: "check" }, "Check"),
      mayAdmin() ? el("button", { type: "submit", id: "save", class: "secondary" }, "Save") : null),
    el("p", { class: "hint" }, mayAdmin()
      ? ["Check asks what ", el("code", {}, "nonstop apply"), " would say, changing nothing. Save sets the values ",
         "(the resource restarts where its type needs it); your cluster.yaml no longer says the same: apply it again only once it does."]
      : ["Checks the values as ", el("code", {}, "nonstop apply"), " would, changing nothing; an admin can save them."]),
    el("p", { id: "check-result", role: "status" }));
  if (!kept) forms.set("resource:" + name, form);
  if (!kept) form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const saving = ev.submitter && ev.submitter.id === "save";
    const properties = {};
    for (const p of schema) {
      const v = form.elements[p.name].value;
      if (v.trim() !== "") properties[p.name] = v;
    }
    form.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    document.getElementById("form-error").textContent = "";
    const result = document.getElementById("check-result");
    try {
      const { problems } = await api("/api/resources/" + encodeURIComponent(r.name) + "/check", { properties });
      let first = null;
      for (const pr of problems) {
        const prop = pr.field.startsWith("properties.") ? pr.field.slice(11) : null;
        const box = prop && document.getElementById("prop-" + prop + "-error");
        if (box) {
          box.textContent = pr.reason;
          const input = document.getElementById("prop-" + prop);
          input.setAttribute("aria-invalid", "true");
          first ||= input;
        } else {
          document.getElementById("form-error").textContent += (pr.field ? pr.field + ": " : "") + pr.reason + " ";
        }
      }
      if (first) first.focus();
      if (problems.length) {
        result.textContent = problems.length + " problem(s).";
      } else if (saving) {
        const r = await api("/api/resources/" + encodeURIComponent(r0.name) + "/update", { properties });
        result.textContent = "Saved (revision " + r.revision + "): " + (r.changes.join("; ") || "no change") + ".";
      } else {
        result.textContent = "apply would take these values.";
      }
    } catch (e) {
      document.getElementById("form-error").textContent = e.message;
    }
  });
  return [
    el("p", {}, el("a", { href: "#/" }, "Cluster"), " / ",
      el("a", { href: "#/group/" + encodeURIComponent(r.group) }, r.group), " / resource"),
    el("h1", {}, "Resource ", r.name, " ", stateSpan(r.state)),
    el("p", {}, "Type ", el("code", {}, r.type), " · on " + (r.node || "no node") + " · target " + r.target +
      " · restarts in window " + r.restarts_in_window + (r.message ? " · " + r.message : "")),
    el("h2", {}, "Properties"),
    form,
  ];
}

async function pageEvents() {
  const events = await api("/api/events");
  events.reverse();
  return [
    el("h1", {}, "Events"),
    el("table", { id: "events" },
      el("thead", {}, el("tr", {}, el("th", {}, "Revision"), el("th", {}, "Time"), el("th", {}, "What"))),
      el("tbody", {}, events.slice(0, 500).map((e) => el("tr", {},
        el("td", {}, String(e.revision)), el("td", {}, time(e.at_ms)),
        el("td", {}, e.summary || JSON.stringify(e.event)))))),
  ];
}

// Drills as the cluster recorded them (each `nonstop drill run`: its start, one mark per
// round's fault, its end and verdict), newest first, each with its timeline.
async function pageDrills() {
  const events = await api("/api/events");
  const drills = new Map();
  for (const e of events) {
    if (!e.event || e.event.event !== "drill") continue;
    const d = drills.get(e.event.id) || { id: e.event.id, marks: [] };
    d.marks.push({ at: e.at_ms, step: e.event.step, text: e.event.text });
    drills.set(e.event.id, d);
  }
  const list = [...drills.values()].reverse();
  const ns = "http://www.w3.org/2000/svg";
  const timeline = (d) => {
    const t0 = d.marks[0].at, t1 = Math.max(t0 + 1, d.marks[d.marks.length - 1].at);
    const W = 640, svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "timeline");
    svg.setAttribute("width", W + 60);
    svg.setAttribute("height", 24 + d.marks.length * 18);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Timeline of " + d.id);
    const x = (t) => 10 + ((t - t0) / (t1 - t0)) * W;
    const span = document.createElementNS(ns, "rect");
    Object.entries({ class: "span", x: 10, y: 4, width: W, height: 8 }).forEach(([k, v]) => span.setAttribute(k, v));
    svg.append(span);
    d.marks.forEach((m, i) => {
      const r = document.createElementNS(ns, "rect");
      Object.entries({ class: "mark", x: x(m.at) - 2, y: 0, width: 4, height: 16 }).forEach(([k, v]) => r.setAttribute(k, v));
      const t = document.createElementNS(ns, "text");
      t.setAttribute("x", 10);
      t.setAttribute("y", 30 + i * 18);
      t.textContent = "+" + ((m.at - t0) / 1000).toFixed(2) + " s  " + m.step + ": " + m.text;
      svg.append(r, t);
    });
    return svg;
  };
  let runForm = forms.get("drill-form") || null;
  if (mayOperate() && !runForm) {
    const scenarios = await api("/api/drills");
    const result = el("p", { id: "drill-result", role: "status", class: flash.bad ? "error" : null },
      flash.drill ? flash.text : "");
    runForm = el("form", { id: "drill-form", class: "card" },
      el("h2", {}, "Run a drill"),
      el("label", { for: "drill-scenario" }, "Scenario"),
      el("select", { id: "drill-scenario", name: "scenario" },
        scenarios.map((x) => el("option", { value: x.name }, x.name + " — " + x.description))),
      el("label", { for: "drill-group" }, "Group"),
      el("select", { id: "drill-group", name: "group" },
        status.groups.map((g) => el("option", { value: g.name }, g.name))),
      el("label", { for: "drill-rounds" }, "Rounds"),
      el("input", { id: "drill-rounds", name: "rounds", type: "number", min: "1", max: "20", value: "1" }),
      el("button", { type: "submit", id: "drill-run" }, "Run"),
      el("p", { class: "hint" }, "It breaks what the scenario says on the live cluster, measures, then restores it, as ",
        el("code", {}, "nonstop drill run"), " does."),
      result);
    forms.set("drill-form", runForm);
    runForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = ev.target;
      if (!confirm("Run the drill " + f.scenario.value + " on " + f.group.value + " now? It injects a real fault.")) return;
      f.querySelector("button").disabled = true;
      result.className = "";
      result.textContent = "Starting…";
      try {
        await api("/api/drills", { scenario: f.scenario.value, group: f.group.value, rounds: Number(f.rounds.value) });
        flash = { drill: true, text: "Started: its marks appear below as it runs.", bad: false };
      } catch (e) {
        flash = { drill: true, text: e.message, bad: true };
      }
      f.querySelector("button").disabled = false;
      result.className = flash.bad ? "error" : "";
      result.textContent = flash.text;
      // Focus in a form holds the page still: let the drill's marks come in.
      if (document.activeElement) document.activeElement.blur();
    });
  }
  return [
    el("h1", {}, "Drills"),
    runForm || el("p", { class: "hint" }, "Run one with ", el("code", {}, "nonstop drill run SCENARIO"),
      " (", el("code", {}, "nonstop drill list"), "), or here with the operator role; each appears below with its rounds and verdict."),
    list.length ? list.map((d) => {
      const end = d.marks.find((m) => m.step === "end");
      return el("section", { class: "drill", "data-drill": d.id },
        el("h2", {}, d.id, " ", end ? stateSpan(end.text.startsWith("pass") ? "pass" : "fail") : stateSpan("running")),
        timeline(d));
    }) : el("p", {}, "No drill in the kept history."),
  ];
}

// ---------------------------------------------------------------- routing and updates

async function show() {
  const hash = location.hash || "#/";
  const [, page, arg] = hash.match(/^#\/([^/]*)\/?(.*)$/) || [];
  const name = arg ? decodeURIComponent(arg) : "";
  document.querySelectorAll("header nav a").forEach((a) => {
    const here = a.getAttribute("href") === "#/" + (page === "group" || page === "resource" ? "" : page || "");
    if (here) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  forms = new Map();
  const draw = {
    "": () => pageCluster(),
    "group": () => pageGroup(name),
    "resource": () => pageResource(name),
    "events": () => pageEvents(),
    "drills": () => pageDrills(),
  }[page || ""] || (() => [el("h1", {}, "Not found")]);
  render = async (keepFocus) => {
    try {
      await refreshStatus();
      // A form being filled in is not redrawn under the person typing.
      if (keepFocus && main.querySelector("form") && main.contains(document.activeElement)) return;
      const nodes = await draw();
      main.replaceChildren(...[nodes].flat(Infinity).filter((n) => n !== null && n !== undefined));
    } catch (e) {
      if (e.status === 401) return showLogin(e.message);
      main.replaceChildren(el("h1", {}, "Error"), el("p", { class: "error", role: "alert" }, e.message));
    }
  };
  await render(false);
}

function stopStream() {
  if (streamAbort) streamAbort.abort();
  streamAbort = null;
}

// Follows /api/stream (server-sent events read through fetch, so that the token goes in a
// header, never in a URL); each event redraws the page (at most every 150 ms). When the
// stream ends (the member went away) it starts again from the last revision seen.
async function follow() {
  stopStream();
  const abort = new AbortController();
  streamAbort = abort;
  let pause = 200;
  while (!abort.signal.aborted) {
    try {
      const headers = {};
      if (token()) headers["Authorization"] = "Bearer " + token();
      const r = await fetch("/api/stream?from=" + lastRevision, { headers, signal: abort.signal });
      if (r.status === 401) return showLogin("The token was refused.");
      if (!r.ok) throw new Error(r.statusText);
      pause = 200;
      const reader = r.body.getReader();
      const text = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += text.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
          if (!data) continue;
          const e = JSON.parse(data);
          lastRevision = Math.max(lastRevision, e.revision);
          clearTimeout(redrawTimer);
          redrawTimer = setTimeout(() => render && render(true), 150);
        }
      }
    } catch (e) {
      if (abort.signal.aborted) return;
    }
    await new Promise((res) => setTimeout(res, pause));
    pause = Math.min(pause * 2, 5000);
  }
}

async function start() {
  if (secure() && !token()) return showLogin("");
  try {
    await refreshStatus();
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin(e.message);
    }
    main.replaceChildren(el("h1", {}, "Error"), el("p", { class: "error", role: "alert" }, e.message));
    return;
  }
  await show();
  // Live from the revision the page was drawn at (events before it are already shown).
  const events = await api("/api/events").catch(() => []);
  lastRevision = events.length ? events[events.length - 1].revision : 0;
  follow();
}

window.addEventListener("hashchange", () => {
  if (takeFragmentToken()) return start();
  show();
  main.focus();
});
start();
