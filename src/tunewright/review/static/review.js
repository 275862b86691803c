// Keyboard shortcuts only: a = accept, s = skip, c = edit the label, Enter in the label field = save correction.
document.addEventListener("keydown", function (e) {
  var field = document.getElementById("label");
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (document.activeElement === field) {
    if (e.key === "Enter") { e.preventDefault(); document.getElementById("correct").click(); }
    if (e.key === "Escape") { field.blur(); }
    return;
  }
  if (e.key === "a") { e.preventDefault(); document.getElementById("accept").click(); }
  else if (e.key === "s") { e.preventDefault(); document.getElementById("skip").click(); }
  else if (e.key === "c") { e.preventDefault(); field.focus(); field.select(); }
});
