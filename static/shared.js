/* cursor-api admin pages: shared helpers, exposed as the global `CursorApi`.
 *
 * Everything the server sends is put on the page as text (textContent, text nodes,
 * element properties); nothing here ever assigns innerHTML, so a prompt holding
 * `<img src=x onerror=alert(1)>` shows exactly those characters.
 */
"use strict";

window.CursorApi = (() => {
  const KEY_STORAGE = "cursor_api_key";
  let memoryKey = ""; // when localStorage is unavailable (private mode, file://)
  let boundInput = null; // the page's key field, once bindKey() has seen it

  // ---- admin key ------------------------------------------------------------------

  /** The key: what the page's key field holds, else the stored one. */
  function getKey() {
    if (boundInput) return boundInput.value.trim();
    try {
      return (localStorage.getItem(KEY_STORAGE) || memoryKey).trim();
    } catch {
      return memoryKey.trim();
    }
  }

  function setKey(value) {
    memoryKey = value || "";
    try {
      if (memoryKey) localStorage.setItem(KEY_STORAGE, memoryKey);
      else localStorage.removeItem(KEY_STORAGE);
    } catch {
      /* storage refused: the in-memory key still works for this page */
    }
  }

  /** Fill `input` with the stored key and store whatever is typed into it. */
  function bindKey(input) {
    if (!input) return null;
    input.value = getKey();
    boundInput = input;
    const save = () => setKey(input.value.trim());
    input.addEventListener("input", save);
    input.addEventListener("change", save);
    return input;
  }

  /** A labelled password field for the key, plus a show/hide toggle. */
  function keyWidget({ id = "key", label = "Admin key", placeholder = "AUTH_TOKEN" } = {}) {
    const input = el("input", {
      id,
      type: "password",
      autocomplete: "off",
      spellcheck: "false",
      placeholder,
    });
    const toggle = el("button", { type: "button", title: "Show or hide the key" }, "Show");
    toggle.addEventListener("click", () => {
      const hidden = input.type === "password";
      input.type = hidden ? "text" : "password";
      toggle.textContent = hidden ? "Hide" : "Show";
    });
    bindKey(input);
    return el(
      "div",
      { class: "field" },
      el("label", { for: id }, label),
      el("div", { class: "key-field" }, input, toggle),
    );
  }

  // ---- HTTP -----------------------------------------------------------------------

  function errorMessage(data, response) {
    if (data && typeof data === "object") {
      const err = data.error;
      if (err && typeof err === "object" && typeof err.message === "string") return err.message;
      if (typeof err === "string" && err) return err;
      if (typeof data.message === "string" && data.message) return data.message;
    }
    return `HTTP ${response.status} ${response.statusText || ""}`.trim();
  }

  /** Fetch JSON; rejects with an Error holding the server's message (and .status, .data). */
  async function request(path, { method = "POST", body, auth = true } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const key = getKey();
    if (auth && key) headers.Authorization = `Bearer ${key}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (exc) {
      throw new Error(`Network error: ${exc && exc.message ? exc.message : exc}`);
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok || (data && data.status === "error")) {
      const error = new Error(errorMessage(data, response));
      error.status = response.status;
      error.data = data;
      throw error;
    }
    if (data === null && text) {
      const type = response.headers.get("content-type") || "something else";
      const error = new Error(`Expected JSON from ${path}, got ${type}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  /** POST `body` as JSON to `path` with the admin key. */
  function api(path, body = {}) {
    return request(path, { method: "POST", body });
  }

  /** GET `path`, parsed as JSON. */
  function get(path, { auth = true } = {}) {
    return request(path, { method: "GET", auth });
  }

  // ---- DOM ------------------------------------------------------------------------

  /**
   * Build an element. `attrs` are attributes (never `on*` handlers or innerHTML; use
   * addEventListener); `children` are nodes or values shown as text (null is skipped).
   */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (/^on/i.test(name) || name === "innerHTML" || name === "outerHTML") {
        throw new Error(`el(): refusing attribute ${name}`);
      }
      if (name === "text") node.textContent = String(value);
      else if (name === "class") node.className = String(value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    append(node, ...children);
    return node;
  }

  /** Append nodes or values (as text nodes) to `parent`. */
  function append(parent, ...children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return parent;
  }

  function clear(node) {
    if (node) node.replaceChildren();
    return node;
  }

  /** Replace `node`'s children. */
  function replace(node, ...children) {
    clear(node);
    return append(node, ...children);
  }

  /** A status badge; the class comes from a fixed alphabet, the text is the value. */
  function badge(value) {
    const text = value === null || value === undefined || value === "" ? "unknown" : String(value);
    const slug = text.toLowerCase().replace(/[^a-z0-9_-]+/g, "-");
    return el("span", { class: `badge badge-${slug}` }, text);
  }

  /**
   * A table inside a horizontal-scroll wrapper. `columns`: [{label, value(row) -> node|text,
   * class?}]; `rows`: data; `onRow(row, tr)` makes rows clickable (and keyboard-usable).
   */
  function table(columns, rows, { empty = "Nothing yet", onRow, id, rowKey } = {}) {
    const head = el(
      "tr",
      {},
      columns.map((c) => el("th", { class: c.class || null, scope: "col" }, c.label)),
    );
    const body = el("tbody");
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { class: "empty", colspan: columns.length }, empty)));
    }
    for (const row of rows) {
      const cells = columns.map((c) => el("td", { class: c.class || null }, c.value(row)));
      const tr = el("tr", {}, cells);
      if (rowKey) tr.dataset.key = String(rowKey(row));
      if (onRow) {
        tr.className = "clickable";
        tr.tabIndex = 0;
        tr.addEventListener("click", () => onRow(row, tr));
        tr.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            onRow(row, tr);
          }
        });
      }
      body.append(tr);
    }
    const wrapped = el("table", {}, el("thead", {}, head), body);
    return el("div", { class: "table-wrap", id: id || null }, wrapped);
  }

  /** A <dl> from [[term, value], …]; values are nodes or text. */
  function details(pairs) {
    const items = pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]);
    return el("dl", { class: "details" }, items);
  }

  // ---- formatting -----------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, "0");

  /** ISO 8601 (or unix seconds/ms) → "YYYY-MM-DD HH:MM:SS" local time; raw text if unparsable. */
  function formatTime(value) {
    if (value === null || value === undefined || value === "") return "—";
    let date;
    if (typeof value === "number") date = new Date(value < 1e12 ? value * 1000 : value);
    else date = new Date(value);
    if (Number.isNaN(date.getTime())) return String(value);
    return (
      `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
      `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
    );
  }

  /** Seconds → "850 ms", "2.35 s", "3m 05s", "2h 03m", "4d 01h"; "—" when absent. */
  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || seconds === "") return "—";
    const s = Number(seconds);
    if (!Number.isFinite(s)) return String(seconds);
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 60) return `${s.toFixed(2)} s`;
    const total = Math.floor(s);
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    if (d) return `${d}d ${pad(h)}h`;
    if (h) return `${h}h ${pad(m)}m`;
    return `${m}m ${pad(total % 60)}s`;
  }

  /** Bytes → "1.5 MiB". */
  function formatBytes(bytes) {
    const n = Number(bytes);
    if (!Number.isFinite(n)) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i += 1;
    }
    return `${i ? v.toFixed(1) : v} ${units[i]}`;
  }

  // ---- status line, toast ---------------------------------------------------------

  /** Show `message` in the page's #status (or `target`); kind: info | ok | error | busy. */
  function setStatus(message, kind = "info", target) {
    const node = target || document.getElementById("status");
    if (!node) return;
    node.textContent = message === null || message === undefined ? "" : String(message);
    node.dataset.kind = kind;
  }

  let toastTimer = 0;
  /** A short message floating at the bottom of the screen. */
  function toast(message, kind = "info", ms = 3000) {
    let node = document.querySelector(".toast");
    if (!node) {
      node = el("div", { class: "toast", role: "status", "aria-live": "polite" });
      document.body.append(node);
    }
    node.textContent = String(message);
    node.dataset.kind = kind;
    node.classList.remove("fade");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => node.classList.add("fade"), ms);
  }

  /** Run `task` with `button` disabled; errors go to #status, never uncaught. */
  async function busy(button, task, { status } = {}) {
    if (button) button.disabled = true;
    try {
      return await task();
    } catch (exc) {
      setStatus(exc && exc.message ? exc.message : String(exc), "error", status);
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  }

  /** The key, or null after telling the user in #status that one is needed. */
  function requireKey(what = "the admin key") {
    const key = getKey();
    if (!key) setStatus(`Enter ${what} first.`, "error");
    return key || null;
  }

  // ---- navigation -----------------------------------------------------------------

  const PAGES = [
    ["Health", "/health"],
    ["Logs", "/logs"],
    ["Tokens", "/tokeninfo"],
    ["Config", "/config"],
    ["Account", "/api"],
    ["Docs", "/readme"],
  ];

  /** The site's nav bar, put first in <body> (or into `target`). */
  function nav(target) {
    const here = location.pathname.replace(/\/+$/, "") || "/";
    const links = PAGES.map(([label, href]) =>
      el("li", {}, el("a", { href, "aria-current": here === href ? "page" : null }, label)),
    );
    const bar = el(
      "nav",
      { class: "site-nav", "aria-label": "cursor-api pages" },
      el("a", { class: "brand", href: "/readme" }, "cursor-api"),
      el("ul", {}, links),
    );
    if (target) target.replaceChildren(bar);
    else document.body.prepend(bar);
    return bar;
  }

  return Object.freeze({
    KEY_STORAGE,
    getKey,
    setKey,
    bindKey,
    keyWidget,
    request,
    api,
    get,
    el,
    append,
    clear,
    replace,
    badge,
    table,
    details,
    formatTime,
    formatDuration,
    formatBytes,
    setStatus,
    toast,
    busy,
    requireKey,
    nav,
  });
})();
