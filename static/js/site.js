/* Every page: the main menu collapses behind a "Menu" button on narrow screens. Without
   JavaScript the menu is simply always open. The button says whether the menu is open
   (aria-expanded); Escape closes it and gives the focus back to the button. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var button = document.getElementById("menu-toggle");
  var nav = document.getElementById("site-nav");
  if (!button || !nav) { return; }
  function set(open) {
    nav.classList.toggle("open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  button.hidden = false;
  button.addEventListener("click", function () { set(button.getAttribute("aria-expanded") !== "true"); });
  nav.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && nav.classList.contains("open")) { set(false); button.focus(); }
  });
}());
