import { h } from "./dom";

/** Short messages in the corner; errors stay until dismissed, others fade. */
export function toast(message: string, kind: "info" | "error" | "success" = "info"): void {
  let host = document.getElementById("toasts");
  if (!host) {
    host = h("div", { id: "toasts", role: "status", "aria-live": "polite" });
    document.body.appendChild(host);
  }
  const close = h("button", { class: "toast-close", "aria-label": "Dismiss" }, "×");
  const item = h("div", { class: `toast toast-${kind}` }, h("span", {}, message), close);
  close.addEventListener("click", () => item.remove());
  host.appendChild(item);
  if (kind !== "error") window.setTimeout(() => item.remove(), 4000);
}
