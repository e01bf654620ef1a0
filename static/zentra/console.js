// Cosmetic only: after a form with data-once is submitted, its buttons look
// busy so people do not click twice. The server does not rely on this: every
// form carries a key, and a second submit replays the first result.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-once")) return;
  // Disable after the browser has captured the form data (and the clicked
  // button's name/value), not before.
  setTimeout(function () {
    form.querySelectorAll("button[type=submit]").forEach(function (b) {
      b.disabled = true;
      b.classList.add("busy");
    });
  }, 0);
});
