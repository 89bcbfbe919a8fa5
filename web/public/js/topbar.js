// <rapport-topbar>: the skip link and the top bar every page shows, written once, with the
// site's navigation. A page names the links it shows; the element adds the brand, who is
// signed in and the sign-out button:
//   <rapport-topbar links="home account"></rapport-topbar>
// `public` (the pages for people not signed in) shows the brand alone, linked to sign-in.
// Light DOM, so app.css styles it; built with DOM calls, as the CSP allows no inline script.

import { currentUser, signOut } from "./api.js";
import { watchIdle } from "./idle.js";
import { h } from "./ui.js";

/** A person's own page, by role, and what the link to it says. */
const HOMES = {
  clinician: ["/clinician", "Dashboard"],
  admin: ["/clinician", "Dashboard"],
  client: ["/client", "My page"],
};

const LINKS = {
  home: (home) => home,
  availability: () => ["/clinician/availability", "Availability"],
  account: () => ["/account", "Account"],
};

class RapportTopbar extends HTMLElement {
  connectedCallback() {
    if (this.built) return;
    this.built = true;
    if (this.hasAttribute("public")) {
      this.replaceChildren(h("header", { class: "topbar" }, h("a", { class: "brand", href: "/" }, "Rapport")));
      return;
    }
    const home = HOMES[currentUser()?.role] || ["/", "Sign in"];
    const names = (this.getAttribute("links") || "").split(/\s+/).filter((name) => name in LINKS);
    const links = names.map((name) => {
      const [href, text] = LINKS[name](home);
      return h("a", { href }, text);
    });
    this.who = h("span", { id: "who", class: "who" });
    const signOutButton = h("button", { id: "sign-out", class: "secondary", type: "button" }, "Sign out");
    signOutButton.addEventListener("click", () => signOut());
    this.replaceChildren(
      h("a", { class: "skip-link", href: "#main" }, "Skip to content"),
      h("header", { class: "topbar" }, h("a", { class: "brand", href: home[0] }, "Rapport"), h("nav", { "aria-label": "Account" }, links, this.who, signOutButton)),
    );
    this.update();
    if (currentUser()) watchIdle();
  }

  /** Shows who is signed in again (after the profile changed). */
  update() {
    const user = currentUser();
    if (this.who) this.who.textContent = user ? `${user.display_name} (${user.role})` : "";
  }
}

customElements.define("rapport-topbar", RapportTopbar);
