// Accessibility basics, checked in the page (an equivalent of axe-core's rules for what the
// screens use, with nothing fetched): the page's language, a name for every control, an
// alternative text for every image, and WCAG AA contrast (4.5:1, 3:1 for large text) for
// every visible text. Returns the violations as strings; an empty list passes.
(() => {
  const problems = [];
  const visible = (el) => {
    const s = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return s.display !== "none" && s.visibility !== "hidden" && r.width > 0 && r.height > 0 &&
      !el.closest("[hidden]");
  };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "");
  if (!document.documentElement.lang) problems.push("html has no lang");
  if (!document.title.trim()) problems.push("page has no title");

  const named = (el) => {
    if (el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")) return true;
    if (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) return true;
    if (el.closest("label")) return true;
    if (["BUTTON", "A", "SUMMARY"].includes(el.tagName)) return el.textContent.trim() !== "";
    return el.title && el.title.trim() !== "";
  };
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href], summary")) {
    if (!el.closest("[hidden]") && !named(el)) problems.push(`no accessible name: ${describe(el)}`);
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push(`image without alt: ${img.src}`);
  }

  const rgba = (text) => {
    const m = text.match(/rgba?\(([^)]+)\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(",").map((v) => parseFloat(v));
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const background = (el) => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let colour = [255, 255, 255, 1];
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el) || !visible(el)) continue;
    if (el.closest("svg")) continue; // chart and map labels sit on their own fills
    seen.add(el);
    const s = getComputedStyle(el);
    const fg = over(rgba(s.color), background(el));
    const bg = background(el);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(s.fontWeight, 10) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`contrast ${ratio.toFixed(2)} of ${describe(el)}: "${el.textContent.trim().slice(0, 30)}"`);
    }
  }
  return problems;
})()
