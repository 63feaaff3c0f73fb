// duban's phone app (/m): inspectors report with photos and GPS, unit handlers work their
// tasks. No library, nothing from another host. Reports and their photos wait in IndexedDB
// with their client id (the API's idempotency key) and are sent when the network returns:
// sending one twice answers 200 with the same finding, a photo twice the same photo.
"use strict";

const API = "/api/v1";
const WORDS = {
  zh: {
    app: "督办", login_title: "用设备令牌登录", login: "登录", token: "设备令牌",
    login_hint: "向管理员索取设备令牌（dbn_ 开头），只需输入一次。",
    login_failed: "令牌无效、已过期或已吊销。", offline_login: "需联网登录一次。",
    tasks: "我的任务", report: "上报问题", outbox: "发送记录", category: "问题类别",
    search: "搜索类别", description: "问题描述", voice_hint: "可用手机键盘上的语音输入。",
    photos: "现场照片", position: "位置", locate: "重新定位",
    map_help: "拖动红点（或用方向键）修正位置。", unit_found: "所属单位", address: "地点描述",
    send: "上报", logout: "退出此设备", online: "在线", offline: "离线",
    accuracy: "精度 ±{m} 米", no_position: "尚未定位", locating: "正在定位…",
    gps_failed: "无法定位：{e}", outside: "不在已导入的辖区内（由派单员分派）",
    need_category: "请选择问题类别。", need_description: "请填写问题描述。",
    need_position: "请先定位。", queued: "已保存，联网后自动发送。", sent_now: "已上报。",
    outbox_hint: "没有网络时，上报和照片保存在手机上，联网后自动发送。",
    st_waiting: "等待发送", st_sent: "已发送", st_refused: "被拒绝",
    photos_of: "照片 {a}/{b}", nothing: "没有记录。", recent: "最近使用",
    dups: "附近可能重复的问题：", no_tasks: "没有待办任务。",
    due: "期限", accept: "签收", return: "申请退回", return_reason: "退回理由（派单员审批）",
    return_pending: "退回申请待派单员审批", co_handling: "协办（主办：{unit}）",
    progress: "报进展", progress_note: "进展情况",
    attach: "添加附件（PDF、Word、Excel、照片）", attached: "随下一步提交的附件：",
    extension: "申请延期", extension_until: "延期至", extension_reason: "延期理由",
    after_photo: "拍整改后照片", submit: "提交整改", submit_note: "整改说明",
    done: "已完成。", escalations: "督办与批示", instruction: "批示",
    light_red: "红灯·已超期", light_yellow: "黄灯·即将超期", light_green: "绿灯·正常",
    fs_assigned: "待签收", fs_accepted: "整改中", photo_uploaded: "照片已上传。",
    signed_in: "{u}（{unit}）", confirm_logout: "退出后需重新输入令牌。仍有未发送的上报将保留。",
    extension_pending: "延期申请待审批",
    suspend: "申请挂账", suspend_until: "预计恢复日期", suspend_reason: "挂账原因",
    suspend_note: "情况说明", resume: "恢复整改", fs_suspended: "挂账中",
    suspension_pending: "挂账申请待审批", resumes: "预计恢复",
    sr_funding: "需资金保障", sr_planning_approval: "需规划审批", sr_seasonal: "受季节影响",
    sr_legal_process: "涉法律程序", sr_relocation: "需搬迁安置", sr_other: "其他",
  },
  en: {
    app: "duban", login_title: "Log in with a device token", login: "Log in", token: "Device token",
    login_hint: "Ask your administrator for a device token (it starts with dbn_); enter it once.",
    login_failed: "The token is invalid, expired or revoked.", offline_login: "Log in once online.",
    tasks: "My tasks", report: "Report", outbox: "Sent and waiting", category: "Category",
    search: "Search categories", description: "Description",
    voice_hint: "Your keyboard's voice input works here.", photos: "Photos",
    position: "Position", locate: "Locate again",
    map_help: "Drag the red pin (or use the arrow keys) to correct the position.",
    unit_found: "Unit here", address: "Place", send: "Report", logout: "Forget this device",
    online: "online", offline: "offline", accuracy: "±{m} m", no_position: "No position yet",
    locating: "Locating…", gps_failed: "No position: {e}",
    outside: "Outside the imported boundaries (a dispatcher assigns it)",
    need_category: "Choose a category.", need_description: "Describe the problem.",
    need_position: "Locate first.", queued: "Saved; it is sent when the network returns.",
    sent_now: "Reported.",
    outbox_hint: "Offline, reports and photos stay on the phone and are sent when the network returns.",
    st_waiting: "waiting", st_sent: "sent", st_refused: "refused", photos_of: "photos {a}/{b}",
    nothing: "Nothing here.", recent: "Recent", dups: "Possible duplicates nearby:",
    no_tasks: "No tasks.", due: "Due", accept: "Accept", return: "Ask to return",
    return_reason: "Reason for returning (the dispatcher decides)", extension: "Request extension",
    return_pending: "return requested, waiting for the dispatcher",
    co_handling: "co-handling (lead: {unit})", progress: "Add progress", progress_note: "Progress",
    attach: "Attach a file (PDF, Word, Excel, photo)", attached: "Goes with the next step: ",
    extension_until: "Until", extension_reason: "Reason", after_photo: "Take the after-photo",
    submit: "Submit", submit_note: "What was done", done: "Done.",
    escalations: "Escalations and instructions", instruction: "Instruction",
    light_red: "red · overdue", light_yellow: "yellow · due soon", light_green: "green · on track",
    fs_assigned: "to accept", fs_accepted: "in progress", photo_uploaded: "Photo uploaded.",
    signed_in: "{u} ({unit})",
    confirm_logout: "You will need the token again. Reports not yet sent are kept.",
    extension_pending: "extension requested",
    suspend: "Request suspension", suspend_until: "Expected to resume on",
    suspend_reason: "Reason", suspend_note: "Details", resume: "Resume",
    fs_suspended: "suspended", suspension_pending: "suspension requested", resumes: "resumes",
    sr_funding: "needs funding", sr_planning_approval: "needs planning approval",
    sr_seasonal: "seasonal", sr_legal_process: "legal process", sr_relocation: "relocation",
    sr_other: "other",
  },
};
let lang = localStorage.getItem("duban_m_lang") === "en" ? "en" : "zh";

function t(key, vars) {
  let text = (WORDS[lang] && WORDS[lang][key]) || WORDS.zh[key] || key;
  for (const [k, v] of Object.entries(vars || {})) text = text.replace(`{${k}}`, String(v));
  return text;
}

const $ = (selector, root) => (root || document).querySelector(selector);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// --- IndexedDB: the device token, the reference, the outbox ---------------------------

let dbPromise = null;
function db() {
  dbPromise = dbPromise || new Promise((resolve, reject) => {
    const open = indexedDB.open("duban-m", 1);
    open.onupgradeneeded = () => {
      open.result.createObjectStore("kv");
      open.result.createObjectStore("outbox", { keyPath: "id" });
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  return dbPromise;
}

async function store(name, mode, work) {
  const conn = await db();
  return new Promise((resolve, reject) => {
    const tx = conn.transaction(name, mode);
    const result = work(tx.objectStore(name));
    tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    tx.onerror = () => reject(tx.error);
  });
}
const kvGet = (key) => store("kv", "readonly", (s) => s.get(key));
const kvSet = (key, value) => store("kv", "readwrite", (s) => s.put(value, key));
const kvDelete = (key) => store("kv", "readwrite", (s) => s.delete(key));
const outboxAll = () => store("outbox", "readonly", (s) => s.getAll());
const outboxPut = (item) => store("outbox", "readwrite", (s) => s.put(item));

// --- the API ---------------------------------------------------------------------------

let deviceToken = null;

class Offline extends Error {}

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers = Object.assign({ Authorization: `Bearer ${deviceToken}` }, opts.headers);
  let response;
  try {
    response = await fetch(API + path, opts);
  } catch (e) {
    throw new Offline(String(e));
  }
  if (response.status === 401) showLogin(t("login_failed"));
  return response;
}

async function problemText(response) {
  try {
    const body = await response.json();
    const fields = (body.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    return [body.detail || body.title, fields].filter(Boolean).join(" — ");
  } catch (e) {
    return `HTTP ${response.status}`;
  }
}

function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function localIso(date) {
  // RFC 3339 with seconds and the phone's offset, as the API wants every timestamp.
  const pad = (n) => String(Math.abs(Math.trunc(n))).padStart(2, "0");
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(off / 60)}:${pad(off % 60)}`;
}

// --- start -------------------------------------------------------------------------------

let me = null;
let reference = { categories: [], boundaries: [] };

function applyWords() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  $("#lang").textContent = lang === "zh" ? "English" : "中文";
  $("#lang").lang = lang === "zh" ? "en" : "zh-CN";
  showNet();
}

function showNet() {
  const net = $("#net");
  net.textContent = navigator.onLine ? t("online") : t("offline");
  net.className = navigator.onLine ? "net on" : "net off";
}

function showLogin(message) {
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
}

async function start() {
  applyWords();
  deviceToken = await kvGet("token");
  me = await kvGet("me");
  reference = (await kvGet("reference")) || reference;
  if (!deviceToken || !me) return showLogin("");
  await enter();
}

async function enter() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#whoami").textContent = t("signed_in", { u: me.username, unit: me.unit.name });
  const handler = me.role === "unit_handler";
  $("#tab-tasks").hidden = !handler;
  fillCategories();
  showTab(handler ? "tasks" : "report");
  renderOutbox();
  locate();
  try {
    const r = await api("/app/reference");
    if (r.ok) {
      reference = await r.json();
      await kvSet("reference", reference);
      fillCategories();
      if (position) setPosition(position.lat, position.lon, position.accuracy);
      else drawMap();
    }
  } catch (e) {
    if (!(e instanceof Offline)) throw e;
  }
  flush();
}

async function login(event) {
  event.preventDefault();
  const token = $("#token").value.trim();
  deviceToken = token;
  let r;
  try {
    r = await fetch(`${API}/app/me`, { headers: { Authorization: `Bearer ${token}` } });
  } catch (e) {
    $("#login-error").textContent = t("offline_login");
    return;
  }
  if (!r.ok) {
    $("#login-error").textContent = t("login_failed");
    return;
  }
  me = await r.json();
  await kvSet("token", token);
  await kvSet("me", me);
  $("#token").value = "";
  await enter();
}

async function logout() {
  if (!window.confirm(t("confirm_logout"))) return;
  await kvDelete("token");
  await kvDelete("me");
  deviceToken = null;
  me = null;
  showLogin("");
}

function showTab(name) {
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== name;
  for (const tab of document.querySelectorAll("[data-tab]")) {
    if (tab.dataset.tab === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (name === "tasks") loadTasks();
  if (name === "outbox") renderOutbox();
}

// --- report: category, photos, position --------------------------------------------------

function recentCategories() {
  try {
    return JSON.parse(localStorage.getItem("duban_m_recent") || "[]");
  } catch (e) {
    return [];
  }
}

function fillCategories() {
  const select = $("#category");
  const wanted = $("#cat-search").value.trim().toLowerCase();
  const chosen = select.value;
  select.replaceChildren();
  for (const c of reference.categories) {
    const text = `${c.name} (${c.code})`;
    if (wanted && !text.toLowerCase().includes(wanted)) continue;
    select.append(el("option", { value: c.code, text, selected: c.code === chosen }));
  }
  if (select.options.length === 1) select.selectedIndex = 0;
  const recent = $("#recent");
  recent.replaceChildren();
  const known = recentCategories()
    .map((code) => reference.categories.find((c) => c.code === code))
    .filter(Boolean);
  if (known.length) recent.append(el("span", { class: "hint", text: `${t("recent")}:` }));
  for (const c of known) {
    recent.append(el("button", {
      type: "button", class: "chip", text: c.name, "data-code": c.code,
      onclick: () => {
        $("#cat-search").value = "";
        fillCategories();
        select.value = c.code;
        checkDuplicates();
      },
    }));
  }
}

let photos = [];
function showPreviews() {
  const box = $("#previews");
  box.replaceChildren();
  for (const p of photos) {
    box.append(el("img", { src: URL.createObjectURL(p), alt: p.name || t("photos"), width: 96 }));
  }
}

let position = null; // {lat, lon, accuracy}

function locate() {
  if (!navigator.geolocation) return;
  $("#accuracy").textContent = t("locating");
  navigator.geolocation.getCurrentPosition(
    (p) => {
      setPosition(p.coords.latitude, p.coords.longitude, p.coords.accuracy);
    },
    (e) => {
      $("#accuracy").textContent = t("gps_failed", { e: e.message });
    },
    { enableHighAccuracy: true, timeout: 20000, maximumAge: 10000 },
  );
}

function setPosition(lat, lon, accuracy) {
  position = { lat, lon, accuracy };
  $("#pos").textContent = `${lat.toFixed(6)}, ${lon.toFixed(6)}`;
  $("#accuracy").textContent = accuracy !== null ? t("accuracy", { m: Math.round(accuracy) }) : "";
  const unit = unitAt(lat, lon);
  $("#unit-found").textContent = unit ? unit.name : t("outside");
  drawMap();
  checkDuplicates();
}

// The deepest boundary holding the point (ray casting on the rings, lon/lat), as the server
// places a report that names no unit; the server's placement is the one that counts.
function inRing(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function unitAt(lat, lon) {
  let best = null;
  for (const b of reference.boundaries) {
    let inside = false;
    for (const ring of b.rings) if (inRing(ring, lon, lat)) inside = !inside;
    if (inside && (!best || b.depth > best.depth)) best = b;
  }
  return best;
}

// --- the map: the imported boundaries and nearby findings as SVG, no tiles ---------------

const SCALE = 100000; // SVG units per degree of latitude (about 1.1 m each)
const SPAN = 1600; // the view around the position, in SVG units (about 1.8 km)
let origin = null;
let nearby = [];

function project(lat, lon) {
  const o = origin || { lat, lon };
  return [(lon - o.lon) * SCALE * Math.cos((o.lat * Math.PI) / 180), (o.lat - lat) * SCALE];
}

function unproject(x, y) {
  return [origin.lat - y / SCALE, origin.lon + x / (SCALE * Math.cos((origin.lat * Math.PI) / 180))];
}

function drawMap() {
  const svg = $("#map");
  const ns = "http://www.w3.org/2000/svg";
  if (!position && !reference.boundaries.length) return;
  if (!origin) {
    const first = position || { lat: reference.boundaries[0].rings[0][0][1], lon: reference.boundaries[0].rings[0][0][0] };
    origin = { lat: first.lat, lon: first.lon };
  }
  const [cx, cy] = position ? project(position.lat, position.lon) : [0, 0];
  svg.setAttribute("viewBox", `${cx - SPAN / 2} ${cy - SPAN / 2} ${SPAN} ${SPAN}`);
  svg.replaceChildren();
  const sorted = [...reference.boundaries].sort((a, b) => a.depth - b.depth);
  for (const b of sorted) {
    const d = b.rings
      .map((ring) => "M" + ring.map(([lon, lat]) => project(lat, lon).map((v) => v.toFixed(1)).join(" ")).join("L") + "Z")
      .join("");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    path.setAttribute("class", `area depth${Math.min(b.depth, 4)}`);
    const title = document.createElementNS(ns, "title");
    title.textContent = b.name;
    path.append(title);
    svg.append(path);
  }
  for (const f of nearby) {
    const [x, y] = project(f.location.lat, f.location.lon);
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", x.toFixed(1));
    dot.setAttribute("cy", y.toFixed(1));
    dot.setAttribute("r", "14");
    dot.setAttribute("class", `near ${f.light || "open"}`);
    svg.append(dot);
  }
  if (position) {
    if (position.accuracy) {
      const ring = document.createElementNS(ns, "circle");
      ring.setAttribute("cx", cx.toFixed(1));
      ring.setAttribute("cy", cy.toFixed(1));
      ring.setAttribute("r", String(Math.min(position.accuracy / 1.11, SPAN)));
      ring.setAttribute("class", "acc");
      svg.append(ring);
    }
    const pin = document.createElementNS(ns, "circle");
    pin.setAttribute("cx", cx.toFixed(1));
    pin.setAttribute("cy", cy.toFixed(1));
    pin.setAttribute("r", "40");
    pin.setAttribute("class", "pin");
    pin.setAttribute("id", "pin");
    svg.append(pin);
  }
}

let dragging = false;
function svgPoint(event) {
  const svg = $("#map");
  const pt = svg.createSVGPoint();
  pt.x = event.clientX;
  pt.y = event.clientY;
  return pt.matrixTransform(svg.getScreenCTM().inverse());
}

function movePin(event) {
  if (!dragging || !origin) return;
  const p = svgPoint(event);
  const pin = $("#pin");
  if (pin) {
    pin.setAttribute("cx", p.x.toFixed(1));
    pin.setAttribute("cy", p.y.toFixed(1));
  }
}

function dropPin(event) {
  if (!dragging) return;
  dragging = false;
  const p = svgPoint(event);
  const [lat, lon] = unproject(p.x, p.y);
  setPosition(lat, lon, null); // moved by hand: the GPS accuracy no longer applies
}

function nudge(event) {
  if (!position) return;
  const step = 0.00005; // about 5 m
  const moves = { ArrowUp: [step, 0], ArrowDown: [-step, 0], ArrowLeft: [0, -step], ArrowRight: [0, step] };
  const move = moves[event.key];
  if (!move) return;
  event.preventDefault();
  setPosition(position.lat + move[0], position.lon + move[1] / Math.cos((position.lat * Math.PI) / 180), null);
}

let dupTimer = null;
function checkDuplicates() {
  clearTimeout(dupTimer);
  dupTimer = setTimeout(async () => {
    const box = $("#dups");
    box.replaceChildren();
    if (!position || !navigator.onLine) return;
    const d = 0.0009; // about 100 m: the nearby findings on the map
    const bbox = [position.lon - d, position.lat - d, position.lon + d, position.lat + d].map((v) => v.toFixed(6)).join(",");
    try {
      const r = await api(`/findings?bbox=${bbox}&limit=100`);
      if (!r.ok) return;
      nearby = (await r.json()).items.filter((f) => f.status !== "closed");
    } catch (e) {
      return;
    }
    drawMap();
    const category = $("#category").value;
    const same = nearby.filter((f) => f.category.code === category && metres(f.location, position) <= 50);
    if (!same.length) return;
    box.append(el("p", { text: t("dups") }));
    const list = el("ul");
    for (const f of same) {
      list.append(el("li", { text: `${f.category.name} · ${f.description} (${Math.round(metres(f.location, position))} m)` }));
    }
    box.append(list);
  }, 300);
}

function metres(a, b) {
  const rad = Math.PI / 180;
  const x = (b.lon - a.lon) * rad * Math.cos(((a.lat + b.lat) / 2) * rad);
  const y = (b.lat - a.lat) * rad;
  return Math.sqrt(x * x + y * y) * 6371008.8;
}

// --- sending: the outbox ---------------------------------------------------------------

async function submitReport(event) {
  event.preventDefault();
  const error = $("#report-error");
  error.textContent = "";
  const category = $("#category").value;
  const description = $("#description").value.trim();
  if (!category) return (error.textContent = t("need_category"));
  if (!description) return (error.textContent = t("need_description"));
  if (!position) return (error.textContent = t("need_position"));
  const body = {
    id: uuid4(),
    source: "inspection",
    category,
    description,
    location: { lat: +position.lat.toFixed(7), lon: +position.lon.toFixed(7) },
    observed_at: localIso(new Date()),
  };
  const address = $("#address").value.trim();
  if (address) body.location.address = address;
  const item = {
    id: body.id, body, photos: photos.slice(), photosSent: 0, state: "waiting",
    createdAt: Date.now(), finding: null, problem: null,
  };
  await outboxPut(item);
  const recent = [category, ...recentCategories().filter((c) => c !== category)].slice(0, 5);
  localStorage.setItem("duban_m_recent", JSON.stringify(recent));
  $("#report-form").reset();
  photos = [];
  showPreviews();
  fillCategories();
  $("#report-done").textContent = navigator.onLine ? "" : t("queued");
  renderOutbox();
  await flush();
  const now = (await outboxAll()).find((i) => i.id === item.id);
  if (now && now.state === "sent") $("#report-done").textContent = t("sent_now");
  else if (now && now.state === "waiting") $("#report-done").textContent = t("queued");
}

let flushing = null;
function flush() {
  // One pass at a time; a call during a pass waits for it and then runs once more.
  const run = async () => {
    if (!deviceToken) return;
    const items = (await outboxAll()).filter((i) => i.state === "waiting");
    items.sort((a, b) => a.createdAt - b.createdAt);
    for (const item of items) {
      if (!(await sendOne(item))) break; // offline or the server unwell: later
    }
    renderOutbox();
  };
  flushing = (flushing || Promise.resolve()).then(run, run);
  return flushing;
}

async function sendOne(item) {
  try {
    if (!item.finding) {
      const r = await api("/findings", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(item.body),
      });
      if (r.status === 200 || r.status === 201) {
        const f = await r.json();
        item.finding = { id: f.id, status: f.status, unit: (f.responsible_unit || {}).name || null };
      } else if (r.status >= 400 && r.status < 500 && r.status !== 401 && r.status !== 429) {
        item.state = "refused";
        item.problem = await problemText(r);
        item.photos = [];
        await outboxPut(item);
        return true;
      } else {
        return false;
      }
      await outboxPut(item);
    }
    while (item.photosSent < item.photos.length) {
      const form = new FormData();
      form.append("kind", "before");
      form.append("file", item.photos[item.photosSent], `photo-${item.photosSent + 1}.jpg`);
      const r = await api(`/findings/${item.finding.id}/evidence`, { method: "POST", body: form });
      if (r.status >= 500 || r.status === 401 || r.status === 429) return false;
      if (!r.ok) item.problem = await problemText(r); // that photo is refused; the report stands
      item.photosSent += 1;
      await outboxPut(item);
    }
    item.state = "sent";
    item.photoCount = item.photos.length;
    item.photos = []; // sent: the phone's copy is no longer needed
    await outboxPut(item);
    return true;
  } catch (e) {
    if (e instanceof Offline) return false;
    throw e;
  }
}

async function renderOutbox() {
  const items = (await outboxAll()).sort((a, b) => b.createdAt - a.createdAt);
  const waiting = items.filter((i) => i.state === "waiting").length;
  $("#waiting-count").textContent = waiting ? String(waiting) : "";
  const list = $("#outbox-list");
  list.replaceChildren();
  if (!items.length) list.append(el("li", { class: "hint", text: t("nothing") }));
  for (const i of items.slice(0, 100)) {
    const total = i.state === "sent" ? i.photoCount || 0 : i.photos.length;
    const sent = i.state === "sent" ? total : i.photosSent;
    const category = reference.categories.find((c) => c.code === i.body.category);
    list.append(el("li", { class: `card ${i.state}`, "data-id": i.id, "data-state": i.state },
      el("strong", { class: `state ${i.state}`, text: t(`st_${i.state}`) }), " ",
      el("span", { text: `${category ? category.name : i.body.category} · ${i.body.description}` }),
      el("div", { class: "hint", text: `${new Date(i.createdAt).toLocaleString()} · ${t("photos_of", { a: sent, b: total })}${i.finding && i.finding.unit ? ` · ${i.finding.unit}` : ""}` }),
      i.problem ? el("div", { class: "error", text: i.problem }) : null,
    ));
  }
}

// --- the handler's tasks ---------------------------------------------------------------

const LIGHT_ORDER = { red: 0, yellow: 1, green: 2 };

async function loadTasks() {
  const list = $("#task-list");
  const error = $("#tasks-error");
  error.textContent = "";
  let tasks = [];
  let escalations = [];
  try {
    const [a, b, s, e] = await Promise.all([
      api("/findings?status=assigned&limit=200"),
      api("/findings?status=accepted&limit=200"),
      api("/findings?status=suspended&limit=200"),
      api("/escalations?limit=200"),
    ]);
    const failed = [a, b, s].find((r) => !r.ok);
    if (failed) throw new Error(await problemText(failed));
    tasks = [...(await a.json()).items, ...(await b.json()).items, ...(await s.json()).items];
    escalations = e.ok ? (await e.json()).items : [];
  } catch (e) {
    error.textContent = e instanceof Offline ? t("offline") : String(e.message || e);
    return;
  }
  tasks.sort((x, y) =>
    (LIGHT_ORDER[x.light] ?? 3) - (LIGHT_ORDER[y.light] ?? 3) ||
    String(x.due_at).localeCompare(String(y.due_at)));
  list.replaceChildren();
  if (!tasks.length) list.append(el("li", { class: "hint", text: t("no_tasks") }));
  for (const f of tasks) list.append(taskCard(f, escalations.filter((e) => e.finding.id === f.id)));
}

function lightBadge(light) {
  if (!light) return null;
  return el("span", { class: `light light-${light}`, "data-light": light },
    el("span", { class: "lamp", "aria-hidden": "true" }), t(`light_${light}`));
}

function taskCard(f, escalations) {
  const card = el("li", { class: "card task", "data-id": f.id, "data-status": f.status });
  card.append(
    el("div", { class: "taskhead" }, lightBadge(f.light), " ",
      el("strong", { text: f.category.name }), " ", el("span", { class: "hint", text: t(`fs_${f.status}`) })),
    el("p", { text: f.description }),
    el("p", { class: "hint", text: `${f.location.address || ""} · ${t("due")} ${f.due_at ? new Date(f.due_at).toLocaleString() : "—"}${f.extension.requested_until ? ` · ${t("extension_pending")}` : ""}${f.return_requested_at ? ` · ${t("return_pending")}` : ""}` }),
    ...(f.suspension ? [el("p", { class: "hint", "data-suspension": f.suspension.state,
      text: `${t(f.suspension.state === "active" ? "fs_suspended" : "suspension_pending")} · ${t(`sr_${f.suspension.reason}`)} · ${t("resumes")} ${new Date(f.suspension.resume_at).toLocaleDateString()}` })] : []),
  );
  // A co-handling unit (协办) sees the item and adds progress; the lead unit does the rest.
  const coHandling = !!(me && me.unit && (f.co_units || []).some((u) => u.code === me.unit.code));
  if (coHandling) {
    card.append(el("p", { class: "hint", "data-co": "1", text: t("co_handling", { unit: f.responsible_unit ? f.responsible_unit.name : "—" }) }));
  }
  if (escalations.length) {
    const box = el("details", {}, el("summary", { text: `${t("escalations")} (${escalations.length})` }));
    for (const e of escalations) {
      box.append(el("p", { text: `L${e.level} → ${e.target.name || ""} ${e.target.title || ""}` +
        (e.instruction ? ` · ${t("instruction")}: ${e.instruction}` : "") }));
    }
    card.append(box);
  }
  const status = el("p", { class: "result", role: "status" });
  // Files uploaded for this task's next step (any of them): sent with it as `attachments`.
  const attached = [];
  const attachedList = el("p", { class: "hint attached", "data-testid": "attached", hidden: true });
  const act = async (action, extra) => {
    status.textContent = "";
    const body = Object.assign({ action, expected_version: f.version }, extra || {});
    if (attached.length) body.attachments = attached.map((a) => a.id);
    try {
      const r = await api(`/findings/${f.id}/transitions`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!r.ok) {
        status.className = "result error";
        status.textContent = await problemText(r);
        return;
      }
      status.className = "result ok";
      status.textContent = t("done");
      await loadTasks();
    } catch (e) {
      status.className = "result error";
      status.textContent = t("offline");
    }
  };
  const actions = el("div", { class: "actions" });
  const progress = noteForm("progress", t("progress"), t("progress_note"), true, (note) => act("progress", { note }));
  if (coHandling) {
    actions.append(progress);
    card.append(actions, status);
    return card;
  }
  if (f.status === "assigned") {
    actions.append(el("button", { type: "button", class: "primary", "data-action": "accept", text: t("accept"), onclick: () => act("accept") }));
  }
  if (f.status === "accepted") {
    const inputId = `after-${f.id}`;
    const file = el("input", { id: inputId, type: "file", accept: "image/*", capture: "environment", class: "visually-hidden" });
    file.addEventListener("change", async () => {
      if (!file.files.length) return;
      const form = new FormData();
      form.append("kind", "after");
      form.append("file", file.files[0], file.files[0].name || "after.jpg");
      try {
        const r = await api(`/findings/${f.id}/evidence`, { method: "POST", body: form });
        status.className = r.ok ? "result ok" : "result error";
        status.textContent = r.ok ? t("photo_uploaded") : await problemText(r);
      } catch (e) {
        status.className = "result error";
        status.textContent = t("offline");
      }
    });
    actions.append(el("label", { for: inputId, class: "button secondary", "data-action": "after-photo", text: t("after_photo") }), file);
    actions.append(noteForm("submit", t("submit"), t("submit_note"), false, (note) => act("submit", note ? { note } : {})));
    actions.append(extensionForm(f, (until, note) => act("request_extension", { due_at: until, note })));
  }
  if (f.status === "suspended") {
    // Suspended (挂账): nothing to do but resume once the obstacle is gone.
    actions.append(noteForm("resume", t("resume"), t("suspend_note"), false, (note) => act("resume", note ? { note } : {})));
    card.append(actions, status);
    return card;
  }
  actions.append(progress);
  actions.append(suspensionForm(f, (reason, until, note) => act("request_suspension", { reason, resume_at: until, note })));
  if (!f.return_requested_at) {
    actions.append(noteForm("return", t("return"), t("return_reason"), true, (note) => act("return", { note })));
  }
  actions.append(attachControl(f, attached, attachedList, status), attachedList);
  card.append(actions, status);
  return card;
}

function attachControl(f, attached, attachedList, status) {
  const id = `attach-${f.id}`;
  const input = el("input", { id, type: "file", multiple: true, class: "visually-hidden", "data-attach": true,
    accept: "application/pdf,.pdf,.docx,.xlsx,image/jpeg,image/png,image/webp" });
  input.addEventListener("change", async () => {
    for (const file of [...input.files]) {
      const form = new FormData();
      form.append("file", file, file.name || "attachment");
      try {
        const r = await api(`/findings/${f.id}/attachments`, { method: "POST", body: form });
        if (!r.ok) {
          status.className = "result error";
          status.textContent = `${file.name}: ${await problemText(r)}`;
          continue;
        }
        const a = await r.json();
        if (!attached.some((x) => x.id === a.id)) attached.push(a);
      } catch (e) {
        status.className = "result error";
        status.textContent = t("offline");
      }
    }
    input.value = "";
    attachedList.hidden = !attached.length;
    attachedList.textContent = t("attached") + attached.map((a) => a.name).join(", ");
  });
  return el("span", {}, el("label", { for: id, class: "button secondary", "data-action": "attach", text: t("attach") }), input);
}

function noteForm(action, label, noteLabel, required, run) {
  const id = `${action}-${Math.random().toString(36).slice(2)}`;
  const form = el("form", { class: `note-form ${action}`, "data-form": action },
    el("label", { for: id, text: noteLabel }),
    el("input", { id, name: "note", maxlength: "2000", required }),
    el("button", { type: "submit", class: action === "submit" ? "primary" : "secondary", "data-action": action, text: label }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run(form.elements.note.value.trim());
  });
  return form;
}

function extensionForm(f, run) {
  const id = `ext-${f.id}`;
  const form = el("details", { class: "extension" }, el("summary", { text: t("extension") }));
  const inner = el("form", { "data-form": "request_extension" },
    el("label", { for: `${id}-date`, text: t("extension_until") }),
    el("input", { id: `${id}-date`, name: "until", type: "date", required: true }),
    el("label", { for: `${id}-note`, text: t("extension_reason") }),
    el("input", { id: `${id}-note`, name: "note", required: true, maxlength: "2000" }),
    el("button", { type: "submit", class: "secondary", "data-action": "request_extension", text: t("extension") }));
  inner.addEventListener("submit", (e) => {
    e.preventDefault();
    const day = inner.elements.until.value;
    run(localIso(new Date(`${day}T17:30:00`)), inner.elements.note.value.trim());
  });
  form.append(inner);
  return form;
}

const SUSPENSION_REASONS = ["funding", "planning_approval", "seasonal", "legal_process", "relocation", "other"];

function suspensionForm(f, run) {
  const id = `susp-${f.id}`;
  const form = el("details", { class: "suspension" }, el("summary", { text: t("suspend") }));
  const reason = el("select", { id: `${id}-reason`, name: "reason", required: true },
    ...SUSPENSION_REASONS.map((r) => el("option", { value: r, text: t(`sr_${r}`) })));
  const inner = el("form", { "data-form": "request_suspension" },
    el("label", { for: `${id}-reason`, text: t("suspend_reason") }), reason,
    el("label", { for: `${id}-date`, text: t("suspend_until") }),
    el("input", { id: `${id}-date`, name: "until", type: "date", required: true }),
    el("label", { for: `${id}-note`, text: t("suspend_note") }),
    el("input", { id: `${id}-note`, name: "note", required: true, maxlength: "2000" }),
    el("button", { type: "submit", class: "secondary", "data-action": "request_suspension", text: t("suspend") }));
  inner.addEventListener("submit", (e) => {
    e.preventDefault();
    const day = inner.elements.until.value;
    run(inner.elements.reason.value, localIso(new Date(`${day}T08:30:00`)), inner.elements.note.value.trim());
  });
  form.append(inner);
  return form;
}

// --- wiring ------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("duban_m_lang", lang);
    applyWords();
    fillCategories();
    renderOutbox();
    if (!$("#tasks").hidden) loadTasks();
  });
  for (const tab of document.querySelectorAll("[data-tab]")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
  }
  $("#cat-search").addEventListener("input", fillCategories);
  $("#category").addEventListener("change", checkDuplicates);
  $("#photos").addEventListener("change", (e) => {
    photos = photos.concat([...e.target.files]);
    showPreviews();
  });
  $("#locate").addEventListener("click", locate);
  $("#report-form").addEventListener("submit", submitReport);
  const map = $("#map");
  map.addEventListener("pointerdown", (e) => {
    if (!position) return;
    dragging = true;
    map.setPointerCapture(e.pointerId);
    movePin(e);
  });
  map.addEventListener("pointermove", movePin);
  map.addEventListener("pointerup", dropPin);
  map.addEventListener("keydown", nudge);
  window.addEventListener("online", () => {
    showNet();
    flush();
  });
  window.addEventListener("offline", showNet);
  setInterval(() => {
    if (navigator.onLine) flush();
  }, 20000);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" });
  start();
});
