// a11y.js: the admin page's accessibility check, run in the browser on a
// rendered page (TestAdminBrowser). It returns the problems it finds, one
// string each: a form control without a label (or a button without a
// name), and visible text whose contrast with the background behind it is
// under 4.5:1 (WCAG 2 AA, 1.4.3), from the computed styles.
(() => {
  const problems = [];
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (el.name) s += "[name=" + el.name + "]";
    const text = (el.textContent || "").trim().replace(/\s+/g, " ");
    return text ? s + " \"" + text.slice(0, 40) + "\"" : s;
  };
  const visible = (el) => {
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden") return false;
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1; // a visually hidden (.sr) text is for screen readers
  };

  // Labels: every control a user fills in has a label with text (or an
  // aria-label, or aria-labelledby naming text); every button a name.
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.type === "submit" || el.type === "button") continue;
    const byLabel = el.labels && [...el.labels].some((l) => l.textContent.trim() !== "");
    const byAria = (el.getAttribute("aria-label") || "").trim() !== "" ||
      (el.getAttribute("aria-labelledby") || "").split(/\s+/).some((id) => id && document.getElementById(id) && document.getElementById(id).textContent.trim() !== "");
    if (!byLabel && !byAria) problems.push("no label: " + describe(el));
  }
  for (const b of document.querySelectorAll("button")) {
    if (b.textContent.trim() === "" && (b.getAttribute("aria-label") || "").trim() === "") problems.push("button without a name: " + describe(b));
  }

  // Contrast.
  const parse = (c) => {
    const m = c.match(/rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)/);
    if (!m) return null;
    let a = m[4] === undefined ? 1 : m[4].endsWith("%") ? parseFloat(m[4]) / 100 : parseFloat(m[4]);
    return [parseFloat(m[1]), parseFloat(m[2]), parseFloat(m[3]), a];
  };
  const over = (top, bottom) => { // top composited over an opaque bottom
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat(1);
  };
  // background is the opaque colour behind el: its own and its
  // ancestors' background colours composited, over the white canvas.
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg && bg[3] > 0) {
        layers.push(bg);
        if (bg[3] >= 1) break;
      }
    }
    let c = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) c = over(layers[i], c);
    return c;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (l1 + 0.05) / (l2 + 0.05);
  };
  const seen = new Set();
  const check = (el, what) => {
    if (seen.has(el) || !visible(el) || el.disabled) return;
    seen.add(el);
    const bg = background(el);
    const fg = parse(getComputedStyle(el).color);
    if (!fg) { problems.push("unreadable colour " + getComputedStyle(el).color + ": " + describe(el)); return; }
    const r = ratio(over(fg, bg), bg);
    if (r < 4.5) problems.push("contrast " + r.toFixed(2) + ":1 (" + what + "): " + describe(el));
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.textContent.trim() === "" || !n.parentElement) continue;
    const p = n.parentElement;
    if (p.closest("script, style, noscript")) continue;
    check(p, "text");
  }
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) check(el, "field");
  return problems;
})()
