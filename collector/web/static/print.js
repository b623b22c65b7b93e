"use strict";
// The printable list's Print button (a static file: the office's CSP allows no inline script).
document.addEventListener("DOMContentLoaded", function () {
  const button = document.getElementById("print");
  if (button) button.addEventListener("click", function () { window.print(); });
});
