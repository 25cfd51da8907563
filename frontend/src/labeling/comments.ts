// Review comments: threads pinned to a point or a region, shown as numbered pins on the map and as a
// list in the side panel, with replies and resolve/reopen.
import type Map from "ol/Map";
import Feature from "ol/Feature";
import Point from "ol/geom/Point";
import VectorLayer from "ol/layer/Vector";
import VectorSource from "ol/source/Vector";
import { getCenter } from "ol/extent";
import { api, call } from "../api/client";
import { compact, h } from "../ui/dom";
import { toast } from "../ui/toast";
import { pixelToPoint } from "./geometry";
import { commentPinStyle } from "./styles";
import type { Editor } from "./editor";

function fetchThreads(observationId: string) {
  return call(api.GET("/api/observations/{observation_id}/comments", { params: { path: { observation_id: observationId } } }));
}
type Thread = Awaited<ReturnType<typeof fetchThreads>>[number];

export class Comments {
  threads: Thread[] = [];
  readonly layer = new VectorLayer({
    source: new VectorSource<Feature>(),
    style: commentPinStyle,
    properties: { name: "comments" },
    zIndex: 20,
  });
  readonly panel = h("section", { class: "comments", "aria-label": "Comments" });

  constructor(
    private readonly map: Map,
    private readonly observationId: string,
    private readonly editor: Editor,
  ) {
    map.addLayer(this.layer);
  }

  get open(): number {
    return this.threads.filter((t) => !t.comment.resolved_at).length;
  }

  async load(): Promise<void> {
    this.threads = await fetchThreads(this.observationId);
    this.render();
  }

  /** Shown instead of the threads when the user may not read them (an annotator on another's task). */
  unavailable(): void {
    this.panel.replaceChildren(
      h("h3", {}, "Comments"),
      h("p", { class: "muted" }, "Comments are shown to the task's annotators, its reviewers and admins."),
    );
  }

  /** Where a thread points: its pixel point, or the centre of its region. */
  private anchor(thread: Thread): number[] | null {
    const { point, region_id: regionId } = thread.comment;
    if (point) return pixelToPoint([point[0] ?? 0, point[1] ?? 0]);
    if (regionId) {
      const geometry = this.editor.source.getFeatureById(regionId)?.getGeometry();
      if (geometry) return getCenter(geometry.getExtent());
    }
    return null;
  }

  render(): void {
    const source = this.layer.getSource();
    source?.clear();
    this.threads.forEach((thread, i) => {
      const at = this.anchor(thread);
      if (!at) return;
      const pin = new Feature({ geometry: new Point(at) });
      pin.setProperties({ number: i + 1, resolved: Boolean(thread.comment.resolved_at), threadId: thread.comment.id });
      source?.addFeature(pin);
    });
    this.panel.replaceChildren(
      ...compact([
        h("h3", {}, `Comments (${this.open} open)`),
        this.threads.length === 0 ? h("p", { class: "muted" }, "No comments. Press M and click the map to pin one.") : null,
        ...this.threads.map((thread, i) => this.threadView(thread, i + 1)),
      ]),
    );
  }

  private threadView(thread: Thread, number: number): HTMLElement {
    const { comment } = thread;
    const resolved = Boolean(comment.resolved_at);
    const reply = h("input", { type: "text", placeholder: "Reply…", "aria-label": "Reply", name: "reply" });
    reply.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || !reply.value.trim()) return;
      void this.add(reply.value.trim(), { parent_id: comment.id });
    });
    const toggle = h("button", { class: "small", "data-action": resolved ? "reopen" : "resolve" }, resolved ? "Reopen" : "Resolve");
    toggle.addEventListener("click", () => {
      void call(
        api.POST("/api/comments/{comment_id}/resolve", {
          params: { path: { comment_id: comment.id } },
          body: { resolved: !resolved },
        }),
      )
        .then(() => this.load())
        .catch((error: unknown) => toast(String((error as Error).message), "error"));
    });
    const goTo = h("button", { class: "pin-number", title: "Show on the map" }, String(number));
    goTo.addEventListener("click", () => {
      const at = this.anchor(thread);
      if (at) this.map.getView().animate({ center: at, duration: 250 });
      if (comment.region_id) this.editor.selectById(comment.region_id);
    });
    return h(
      "article",
      { class: `thread${resolved ? " resolved" : ""}`, "data-comment-id": comment.id },
      h(
        "header",
        {},
        goTo,
        h("strong", {}, comment.author_email ?? "someone"),
        h("span", { class: "muted" }, new Date(comment.created_at).toLocaleString()),
        comment.region_id ? h("span", { class: "tag" }, "region") : comment.point ? h("span", { class: "tag" }, "point") : null,
      ),
      h("p", { class: "body" }, comment.body),
      ...thread.replies.map((r) =>
        h("div", { class: "reply" }, h("strong", {}, r.author_email ?? "someone"), " ", h("span", {}, r.body)),
      ),
      h("div", { class: "thread-actions" }, reply, toggle),
    );
  }

  async add(
    body: string,
    pin: { point?: [number, number]; region_id?: string; parent_id?: string },
  ): Promise<void> {
    try {
      await call(
        api.POST("/api/observations/{observation_id}/comments", {
          params: { path: { observation_id: this.observationId } },
          body: { body, ...pin },
        }),
      );
      await this.load();
    } catch (error) {
      toast((error as Error).message, "error");
    }
  }
}
