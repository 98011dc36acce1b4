// chainrule's backprop page: step through a recorded graph's forward and backward pass.
// Everything it shows is in CR_DATA, written by chainrule.viz.page (no network, no libraries).
(function () {
  "use strict";
  const D = CR_DATA;
  const W = D.words;
  const steps = D.steps;
  const N = steps.length;
  const $ = (id) => document.getElementById(id);
  let cur = -1;
  let timer = null;

  // ------------------------------------------------------------------ numbers
  // Python's format(x, ".4g"), so the page prints what Python prints.
  function fmt(x) {
    if (x === null || x === undefined) return "-";
    if (Number.isNaN(x)) return "nan";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    if (x === 0) return Object.is(x, -0) ? "-0" : "0";
    const e = x.toExponential(3);
    const exp = parseInt(e.split("e")[1], 10);
    if (exp < -4 || exp >= 4) {
      let [m, p] = e.split("e");
      if (m.indexOf(".") >= 0) m = m.replace(/0+$/, "").replace(/\.$/, "");
      const sign = p[0] === "-" ? "-" : "+";
      p = p.replace(/^[+-]/, "");
      return m + "e" + sign + (p.length < 2 ? "0" + p : p);
    }
    let s = x.toFixed(Math.max(0, 3 - exp));
    if (s.indexOf(".") >= 0) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s;
  }
  function bytes(n) {
    let size = n;
    for (const unit of ["B", "KiB", "MiB", "GiB"]) {
      if (size < 1024 || unit === "GiB") {
        return unit === "B" ? Math.trunc(size) + " B" : size.toFixed(1) + " " + unit;
      }
      size /= 1024;
    }
    return n + " B";
  }
  const shapeText = (s) => s === null || s === undefined ? "?"
    : "(" + s.join(", ") + (s.length === 1 ? ",)" : ")");
  const pick = (s) => ({ shape: s.shape, min: s.min, max: s.max, mean: s.mean });

  // ------------------------------------------------------------------ the state
  function stateAt(i) {
    const values = {};
    const grads = {};
    for (const name in D.start) values[name] = pick(D.start[name]);
    let peak = 0;
    for (let k = 0; k <= i; k++) {
      const s = steps[k];
      peak = Math.max(peak, s.held_bytes);
      if (s.phase === "forward" && s.out) values[s.out] = pick(s.value);
      if (s.phase === "backward") for (const name in s.grads) grads[name] = pick(s.grads[name]);
    }
    const s = i >= 0 ? steps[i] : null;
    return {
      phase: s ? s.phase : "start", step: i, node: s ? s.node : null,
      held_bytes: s ? s.held_bytes : 0, peak_bytes: peak, values: values, grads: grads,
    };
  }

  // ------------------------------------------------------------------ drawing
  function mark(id, cls) {
    if (!id) return;
    const el = document.getElementById(id);
    if (el) el.classList.add(cls);
  }
  function paintGraph(i) {
    document.querySelectorAll("#cr-graph g.node").forEach((g) => {
      g.classList.remove("cr-ran", "cr-now", "cr-grad", "cr-freed", "cr-input");
    });
    for (const name in D.start) mark(D.start_ids[name], "cr-input");
    for (let k = 0; k <= i; k++) {
      const s = steps[k];
      if (s.phase === "forward") { mark(s.node, "cr-ran"); mark(s.var, "cr-ran"); }
      else { mark(s.node, "cr-freed"); (s.grad_vars || []).forEach((v) => mark(v, "cr-grad")); }
    }
    if (i >= 0) {
      mark(steps[i].node, "cr-now");
      if (steps[i].phase === "forward") mark(steps[i].var, "cr-now");
      else (steps[i].grad_vars || []).forEach((v) => mark(v, "cr-now"));
    }
  }
  function heatmap(h) {
    const c = document.createElement("canvas");
    c.className = "cr-heat";
    c.width = h.cols; c.height = h.rows;
    const ctx = c.getContext("2d");
    const img = ctx.createImageData(h.cols, h.rows);
    const raw = atob(h.bytes);
    for (let p = 0; p < raw.length; p++) {
      const v = raw.charCodeAt(p) / 255;          // 0 blue, 0.5 white, 1 red
      const r = v < 0.5 ? 2 * v : 1, b = v > 0.5 ? 2 * (1 - v) : 1, g = Math.min(r, b);
      img.data[4 * p] = 255 * r; img.data[4 * p + 1] = 255 * g;
      img.data[4 * p + 2] = 255 * b; img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    c.title = W.heat + " (+/-" + fmt(h.scale) + ")";
    return c;
  }
  function histogram(h) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "cr-hist");
    svg.setAttribute("width", "240"); svg.setAttribute("height", "50");
    const top = Math.max(...h.counts, 1);
    h.counts.forEach((n, k) => {
      const r = document.createElementNS(ns, "rect");
      const height = 48 * n / top;
      r.setAttribute("x", String(k * 15)); r.setAttribute("width", "13");
      r.setAttribute("y", String(50 - height)); r.setAttribute("height", String(height));
      svg.appendChild(r);
    });
    const t = document.createElementNS(ns, "title");
    t.textContent = W.hist + " [" + fmt(h.low) + ", " + fmt(h.high) + "]";
    svg.appendChild(t);
    return svg;
  }
  function summaryBox(title, s, prefix) {
    const box = document.createElement("div");
    const h = document.createElement("div");
    h.className = "cr-line"; h.textContent = title;
    box.appendChild(h);
    const t = document.createElement("table");
    t.className = "cr-sum";
    for (const key of ["shape", "min", "max", "mean", "norm"]) {
      const tr = t.insertRow();
      tr.insertCell().textContent = W[key] || key;
      const td = tr.insertCell();
      td.id = prefix + key;
      td.textContent = key === "shape" ? shapeText(s.shape) : fmt(s[key]);
    }
    box.appendChild(t);
    if (s.data) {
      const d = document.createElement("div");
      d.className = "cr-line"; d.textContent = "[" + s.data.map(fmt).join(", ") + "]";
      box.appendChild(d);
    }
    if (s.heat) box.appendChild(heatmap(s.heat));
    if (s.hist) box.appendChild(histogram(s.hist));
    return box;
  }
  function paintPanel(i) {
    const s = i >= 0 ? steps[i] : null;
    const phase = $("cr-phase");
    phase.className = s ? s.phase : "";
    phase.textContent = s ? W[s.phase] : W.start;
    $("cr-op").textContent = !s ? W.press : s.phase === "forward"
      ? W.ran + " " + s.op + " → " + shapeText(s.shape)
      : W.vjp + " " + s.op + " → " + W.grads_of + " " + s.grad_shapes.map(shapeText).join(", ");
    const eq = s ? (s.phase === "forward" ? (s.eq || "") : s.lines.join("\n")) : "";
    $("cr-eq").textContent = eq || (s && s.phase === "backward" && s.grads[D.root]
      ? "d" + D.root + "/d" + D.root + " = 1" : "");
    const box = $("cr-value");
    box.textContent = "";
    if (!s) return;
    if (s.phase === "forward") {
      box.appendChild(summaryBox((s.out || W.inner) + " = " + s.op + "(…)", s.value, "cr-v-"));
    } else {
      Object.keys(s.grads).forEach((name, k) => {
        box.appendChild(summaryBox("d" + D.root + "/d" + name, s.grads[name],
          k === 0 ? "cr-g-" : "cr-g" + k + "-"));
      });
    }
  }
  function bar(id, label, total, made, scale, peak, kind) {
    const wrap = document.createElement("div");
    const cap = document.createElement("div");
    cap.className = "cr-caption";
    cap.textContent = label + ": " + bytes(total) + " (" + total.toLocaleString("en") + " B)";
    const b = document.createElement("div");
    b.className = "cr-bar"; b.id = id; b.dataset.bytes = String(total);
    const pct = (n) => (100 * n / scale).toFixed(3) + "%";
    if (made === null) {
      const f = document.createElement("div");
      f.className = "cr-fill " + (kind || "nograd"); f.style.width = pct(total);
      b.appendChild(f);
    } else {
      const e = document.createElement("div");
      e.className = "cr-fill ext"; e.style.width = pct(total);
      const m = document.createElement("div");
      m.className = "cr-fill made"; m.style.width = pct(made);
      b.appendChild(e); b.appendChild(m);
    }
    const p = document.createElement("div");
    p.className = "cr-peak"; p.style.left = pct(peak); p.title = W.peak + " " + bytes(peak);
    b.appendChild(p);
    wrap.appendChild(cap); wrap.appendChild(b);
    return wrap;
  }
  function paintMemory(i) {
    const m = D.memory;
    const st = stateAt(i);
    const s = i >= 0 ? steps[i] : null;
    const box = $("cr-memory");
    box.textContent = "";
    const scale = Math.max(m.saved_bytes, m.nograd_peak_bytes, 1);
    box.appendChild(bar("cr-bar-train", W.held, st.held_bytes, s ? s.held_made_bytes : 0,
      scale, m.saved_bytes));
    box.appendChild(bar("cr-bar-made", W.made, s ? s.held_made_bytes : 0, null,
      Math.max(m.made_peak_bytes, 1), m.made_peak_bytes, "made"));
    const cap = document.createElement("div");
    cap.className = "cr-caption";
    cap.id = "cr-peak-text";
    cap.textContent = W.peak + " " + bytes(st.peak_bytes) + " / " + bytes(m.saved_bytes) + "; "
      + W.step_peak + " " + bytes(m.training_bytes);
    box.appendChild(cap);
    if ($("cr-nograd").checked) {
      let k = Math.min(i, D.operators - 1);
      const alive = k >= 0 ? steps[k].nograd_bytes : 0;
      box.appendChild(bar("cr-bar-nograd", W.nograd, alive, null, scale, m.nograd_peak_bytes));
      const c2 = document.createElement("div");
      c2.className = "cr-caption";
      c2.textContent = W.nograd_note + " " + bytes(m.prediction_bytes);
      box.appendChild(c2);
    }
  }
  function paintLines(i) {
    const ol = $("cr-lines");
    ol.textContent = "";
    for (let k = 0; k <= i; k++) {
      for (const line of steps[k].lines || []) {
        const li = document.createElement("li");
        li.textContent = line;
        if (k === i) li.className = "cr-new";
        ol.appendChild(li);
      }
    }
  }
  function paint() {
    $("cr-counter").textContent = W.step + " " + (cur + 1) + " / " + N;
    paintGraph(cur); paintPanel(cur); paintMemory(cur); paintLines(cur);
    $("cr-play").textContent = timer ? W.pause : W.play;
  }

  // ------------------------------------------------------------------ moving
  function go(i) {
    const k = Number(i);
    if (!Number.isInteger(k) || k < -1 || k >= N) {
      throw new RangeError("chainrule.go(" + i + "): steps are -1 (start) to " + (N - 1));
    }
    cur = k;
    paint();
    return stateAt(cur);
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; } paint(); }
  function play() {
    if (timer) { stop(); return; }
    if (cur >= N - 1) cur = -1;
    timer = setInterval(() => { if (cur >= N - 1) stop(); else go(cur + 1); }, 700);
    paint();
  }
  $("cr-reset").onclick = () => { stop(); go(-1); };
  $("cr-back").onclick = () => { if (cur > -1) go(cur - 1); };
  $("cr-next").onclick = () => { if (cur < N - 1) go(cur + 1); };
  $("cr-play").onclick = play;
  $("cr-nograd").onchange = paint;
  document.addEventListener("keydown", (e) => {
    if (e.target && e.target.tagName === "INPUT" && e.target.type === "range") return;
    if (e.key === "ArrowRight") { if (cur < N - 1) go(cur + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { if (cur > -1) go(cur - 1); e.preventDefault(); }
    else if (e.key === " ") { play(); e.preventDefault(); }
    else if (e.key === "Home") { stop(); go(-1); e.preventDefault(); }
    else if (e.key === "End") { stop(); go(N - 1); e.preventDefault(); }
  });

  // ------------------------------------------------------------------ second order
  function setupSecond() {
    const box = $("cr-second");
    const toggle = $("cr-second-toggle");
    if (!D.second) { toggle.parentElement.hidden = true; return; }
    const h = document.createElement("h2");
    h.textContent = W.second_title;
    box.appendChild(h);
    const pre = document.createElement("pre");
    pre.id = "cr-second-text";
    pre.textContent = D.second.error || D.second.text;
    box.appendChild(pre);
    if (D.second.svg) {
      const div = document.createElement("div");
      div.innerHTML = D.second.svg;
      box.appendChild(div);
    }
    toggle.onchange = () => { box.hidden = !toggle.checked; };
  }

  // ------------------------------------------------------------------ training
  function setupTraining() {
    const T = D.training;
    const box = $("cr-training");
    const toggle = $("cr-training-toggle");
    if (!T) { toggle.parentElement.hidden = true; return; }
    toggle.onchange = () => { box.hidden = !toggle.checked; };
    const h = document.createElement("h2");
    h.textContent = W.training_title + " (lr " + T.lr + ", " + W.batch + " " + T.batch_size + ")";
    box.appendChild(h);
    const slider = document.createElement("input");
    slider.type = "range"; slider.id = "cr-train-slider";
    slider.min = "1"; slider.max = String(T.steps.length); slider.value = "1";
    box.appendChild(slider);
    const read = document.createElement("div");
    read.id = "cr-train-read"; read.className = "cr-line";
    box.appendChild(read);
    const ns = "http://www.w3.org/2000/svg";
    const colours = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f"];
    function chart(title, series, log) {
      const wdt = 520, hgt = 140, pad = 30;
      const svg = document.createElementNS(ns, "svg");
      svg.setAttribute("class", "cr-chart");
      svg.setAttribute("width", String(wdt)); svg.setAttribute("height", String(hgt));
      const all = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && (!log || v > 0));
      const f = (v) => log ? Math.log10(v) : v;
      const lo = all.length ? Math.min(...all.map(f)) : 0;
      const hi = all.length ? Math.max(...all.map(f)) : 1;
      const y = (v) => hgt - pad / 2 - (hgt - pad) * (f(v) - lo) / ((hi - lo) || 1);
      const x = (k) => pad + (wdt - 2 * pad) * k / Math.max(T.steps.length - 1, 1);
      series.forEach((s, n) => {
        const line = document.createElementNS(ns, "polyline");
        line.setAttribute("points", s.values.map((v, k) => x(k) + "," + y(v)).join(" "));
        line.setAttribute("stroke", colours[n % colours.length]);
        const t = document.createElementNS(ns, "title");
        t.textContent = s.name; line.appendChild(t);
        svg.appendChild(line);
        const label = document.createElementNS(ns, "text");
        label.setAttribute("x", String(wdt - pad + 2)); label.setAttribute("y", String(12 + 12 * n));
        label.setAttribute("font-size", "10"); label.setAttribute("fill", colours[n % colours.length]);
        label.textContent = s.name; svg.appendChild(label);
      });
      const caption = document.createElementNS(ns, "text");
      caption.setAttribute("x", String(pad)); caption.setAttribute("y", "12");
      caption.setAttribute("font-size", "11");
      caption.textContent = title + (log ? " (log)" : "");
      svg.appendChild(caption);
      const cursor = document.createElementNS(ns, "line");
      cursor.setAttribute("y1", "0"); cursor.setAttribute("y2", String(hgt));
      cursor.setAttribute("stroke", "#999");
      svg.appendChild(cursor);
      svg.moveTo = (k) => { cursor.setAttribute("x1", String(x(k))); cursor.setAttribute("x2", String(x(k))); };
      box.appendChild(svg);
      return svg;
    }
    const charts = [
      chart(W.loss, [{ name: "J", values: T.steps.map((s) => s.loss) }], false),
      chart(W.grad_norm, T.params.map((p) => ({ name: p, values: T.steps.map((s) => s.params[p].grad_norm) })), true),
      chart(W.update, T.params.map((p) => ({ name: p, values: T.steps.map((s) => s.params[p].update_norm / s.params[p].param_norm) })), true),
    ];
    function show() {
      const k = Number(slider.value) - 1;
      const s = T.steps[k];
      read.textContent = W.step + " " + s.step + ": J = " + fmt(s.loss) + "\n" + T.params.map(
        (p) => p + ": |grad| = " + fmt(s.params[p].grad_norm) + ", |update| = "
          + fmt(s.params[p].update_norm) + ", |" + p + "| = " + fmt(s.params[p].param_norm)).join("\n");
      charts.forEach((c) => c.moveTo(k));
    }
    slider.oninput = show;
    show();
  }

  // ------------------------------------------------------------------ start
  $("cr-graph").innerHTML = D.svg || "<p>" + W.no_svg + "</p>";
  $("cr-sub").textContent = D.subtitle;
  $("cr-reset").textContent = "« " + W.reset;
  $("cr-back").textContent = "◀ " + W.back;
  $("cr-next").textContent = W.next + " ▶";
  $("cr-nograd-label").textContent = W.nograd_toggle;
  $("cr-second-label").textContent = W.second_toggle;
  $("cr-training-label").textContent = W.training_toggle;
  $("cr-lines-title").textContent = W.lines;
  $("cr-help").textContent = W.help;
  setupSecond();
  setupTraining();
  window.chainrule = {
    steps: () => N,
    go: go,
    state: () => stateAt(cur),
    format: fmt,                          // how the page prints a number: Python's ".4g"
  };
  paint();
})();
