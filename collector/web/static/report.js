// The citizen's report form: a photo over the server's bound is caught here, before anything is sent, so
// what was typed stays on the page (the server refuses such a body before reading it, with a bare 413).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("report-form");
  const input = document.getElementById("report-photo");
  const note = document.getElementById("photo-too-large");
  if (!form || !input || !note) return;
  const max = Number(form.dataset.maxPhoto || "0");
  const fits = () => {
    const file = input.files && input.files[0];
    const big = Boolean(file) && max > 0 && file.size > max;
    note.hidden = !big;
    input.setAttribute("aria-invalid", big ? "true" : "false");
    return !big;
  };
  input.addEventListener("change", fits);
  form.addEventListener("submit", (event) => {
    if (!fits()) {
      event.preventDefault();
      input.focus();
    }
  });
});
