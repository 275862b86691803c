// The review page: highlight candidates and entities in the sentence, pick spans by mouse or keyboard, keep the
// label field in step with the picked entities. Text from the page is only ever set with textContent.
//   mouse: select words in the sentence, then press 1..9 (or click a type button)
//   keyboard: e focuses the sentence; Left/Right move a word cursor, Shift+Left/Right extend it; 1..9 picks the
//   type; Backspace removes the last entity; Escape clears the selection
//   a = accept, s = skip, c = edit the label field, Enter = save my label, u = undo / revise my last judgment
(function () {
  "use strict";
  var example = document.getElementById("example");
  var field = document.getElementById("label");
  if (!example || !field) { return; }
  var dataEl = document.getElementById("page-data");
  var data = JSON.parse(dataEl ? dataEl.getAttribute("data-json") : "{}");
  var types = data.types || [];
  var candidates = data.candidates || [];
  var text = example.textContent;
  var words = [];  // [start, end) of each word of the sentence
  var re = /\S+/g, m;
  while ((m = re.exec(text)) !== null) { words.push([m.index, m.index + m[0].length]); }
  var entities = [];  // [name, type]
  var sel = null;  // {a: first word index, b: last word index} or {start, end} from the mouse
  var cursor = -1;

  function trimPunct(s, e) {  // drop punctuation at the edges of a picked span ("Bank." -> "Bank")
    while (s < e && /[\s"'(\[{,;:.!?]/.test(text[s])) { s++; }
    while (e > s && /[\s"')\]},;:.!?]/.test(text[e - 1])) { e--; }
    return [s, e];
  }

  function parseLabel(v) {
    v = v.trim();
    if (v.charAt(0) !== "[" || v.charAt(v.length - 1) !== "]" || !types.length) { return null; }
    var inner = v.slice(1, -1).trim(), out = [];
    var alt = types.map(function (t) { return t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }).join("|");
    var item = new RegExp("\\s*(.*?\\S)\\s+-\\s+(" + alt + ")\\s*(?:,|$)", "y");
    var pos = 0;
    while (pos < inner.length) {
      item.lastIndex = pos;
      var mm = item.exec(inner);
      if (!mm) { return null; }
      out.push([mm[1].trim(), mm[2]]);
      pos = item.lastIndex;
    }
    return out;
  }

  function occurrences(name) {  // whole-word occurrences of name in the sentence
    var out = [], from = 0, i;
    while (name && (i = text.indexOf(name, from)) !== -1) {
      var before = i === 0 ? "" : text[i - 1], after = text[i + name.length] || "";
      if (!/\w/.test(before) && !/\w/.test(after)) { out.push([i, i + name.length]); }
      from = i + 1;
    }
    return out;
  }

  function selRange() {
    if (!sel) { return null; }
    if (sel.start !== undefined) { return [sel.start, sel.end]; }
    var a = Math.min(sel.a, sel.b), b = Math.max(sel.a, sel.b);
    return trimPunct(words[a][0], words[b][1]);
  }

  function render() {
    // marks: 0 plain, 1 candidate, 2 entity, 3 selection (highest wins)
    var marks = new Array(text.length).fill(0);
    function paint(r, k) { for (var i = r[0]; i < r[1]; i++) { marks[i] = Math.max(marks[i], k); } }
    candidates.forEach(function (c) { occurrences(c).forEach(function (r) { paint(r, 1); }); });
    entities.forEach(function (e) { occurrences(e[0]).forEach(function (r) { paint(r, 2); }); });
    var r = selRange();
    if (r) { paint(r, 3); }
    while (example.firstChild) { example.removeChild(example.firstChild); }
    var cls = ["", "cand", "ent", "sel"];
    for (var i = 0; i < text.length;) {
      var j = i;
      while (j < text.length && marks[j] === marks[i]) { j++; }
      var node = marks[i] ? document.createElement("mark") : document.createTextNode("");
      if (marks[i]) { node.className = cls[marks[i]]; }
      node.textContent = text.slice(i, j);
      example.appendChild(node);
      i = j;
    }
    var picker = document.getElementById("picker");
    if (picker) {
      picker.hidden = !r || !types.length;
      document.getElementById("selection").textContent = r ? text.slice(r[0], r[1]) : "";
    }
    var box = document.getElementById("entities");
    if (box) {
      while (box.firstChild) { box.removeChild(box.firstChild); }
      entities.forEach(function (e, k) {
        var chip = document.createElement("span");
        chip.className = "chip";
        chip.textContent = e[0] + " - " + e[1];
        var x = document.createElement("button");
        x.type = "button";
        x.textContent = "×";
        x.title = "remove";
        x.addEventListener("click", function () { entities.splice(k, 1); syncField(); render(); });
        chip.appendChild(x);
        box.appendChild(chip);
      });
    }
  }

  function syncField() {
    field.value = entities.length ? "[" + entities.map(function (e) { return e[0] + " - " + e[1]; }).join(", ") + "]"
                                  : (data.empty || "No entities found");
  }

  function pick(k) {
    var r = selRange();
    if (!r || k >= types.length || r[1] <= r[0]) { return; }
    var name = text.slice(r[0], r[1]);
    entities = entities.filter(function (e) { return e[0] !== name; });
    entities.push([name, types[k]]);
    // keep the sentence's order
    entities.sort(function (x, y) { return (occurrences(x[0])[0] || [0])[0] - (occurrences(y[0])[0] || [0])[0]; });
    sel = null;
    syncField();
    render();
  }

  function offsetIn(node, off) {  // character offset in the sentence of a DOM (node, offset) inside #example
    var walker = document.createTreeWalker(example, NodeFilter.SHOW_TEXT), n, total = 0;
    while ((n = walker.nextNode())) {
      if (n === node) { return total + off; }
      total += n.textContent.length;
    }
    return node === example ? (off === 0 ? 0 : text.length) : -1;
  }

  example.addEventListener("mouseup", function () {
    var s = window.getSelection();
    if (!s || s.rangeCount === 0 || s.isCollapsed) { return; }
    var rg = s.getRangeAt(0);
    var a = offsetIn(rg.startContainer, rg.startOffset), b = offsetIn(rg.endContainer, rg.endOffset);
    if (a < 0 || b < 0) { return; }
    // grow to whole words, then trim punctuation
    while (a > 0 && /\S/.test(text[a - 1])) { a--; }
    while (b < text.length && /\S/.test(text[b])) { b++; }
    var t = trimPunct(a, b);
    if (t[1] > t[0]) { sel = {start: t[0], end: t[1]}; }
    s.removeAllRanges();
    render();
  });

  document.querySelectorAll("button.type").forEach(function (btn, k) {
    btn.addEventListener("click", function () { pick(k); });
  });

  field.addEventListener("input", function () {
    var p = parseLabel(field.value);
    if (p) { entities = p; render(); }
  });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (document.activeElement === field) {
      if (e.key === "Enter") { e.preventDefault(); document.getElementById("correct").click(); }
      if (e.key === "Escape") { field.blur(); }
      return;
    }
    if (e.key >= "1" && e.key <= "9") { e.preventDefault(); pick(Number(e.key) - 1); return; }
    if (document.activeElement === example && words.length &&
        (e.key === "ArrowRight" || e.key === "ArrowLeft")) {
      e.preventDefault();
      var step = e.key === "ArrowRight" ? 1 : -1;
      if (cursor < 0) { cursor = step > 0 ? 0 : words.length - 1; sel = {a: cursor, b: cursor}; }
      else if (e.shiftKey && sel && sel.a !== undefined) {
        sel.b = Math.max(0, Math.min(words.length - 1, sel.b + step));
      } else {
        cursor = Math.max(0, Math.min(words.length - 1, (sel && sel.b !== undefined ? sel.b : cursor) + step));
        sel = {a: cursor, b: cursor};
      }
      render();
      return;
    }
    if (e.key === "Escape") { sel = null; render(); return; }
    if (e.key === "Backspace" && entities.length) { e.preventDefault(); entities.pop(); syncField(); render(); return; }
    if (e.key === "Enter") { e.preventDefault(); document.getElementById("correct").click(); }
    else if (e.key === "a") { e.preventDefault(); document.getElementById("accept").click(); }
    else if (e.key === "s") { e.preventDefault(); document.getElementById("skip").click(); }
    else if (e.key === "c") { e.preventDefault(); field.focus(); field.select(); }
    else if (e.key === "e") { e.preventDefault(); example.focus(); }
    else if (e.key === "u") { var u = document.getElementById("undo"); if (u) { e.preventDefault(); u.click(); } }
  });

  entities = parseLabel(field.value) || [];
  render();
}());
