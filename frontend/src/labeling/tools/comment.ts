// Comment (M): click the map to pin a comment there, then back to Select.
import type { EventsKey } from "ol/events";
import { unByKey } from "ol/Observable";
import type MapBrowserEvent from "ol/MapBrowserEvent";
import { askText } from "../../ui/dialog";
import type { Comments } from "../comments";
import { pointToPixel } from "../geometry";
import type { Tool, ToolHost } from "./tool";

export class CommentTool implements Tool {
  readonly id = "comment";
  readonly label = "Comment";
  readonly key = "M";
  readonly keys = ["m"];
  readonly help = "Pin a comment: click the map";
  readonly edits = false;
  private listener: EventsKey | null = null;

  constructor(
    private readonly host: ToolHost,
    private readonly comments: () => Comments,
  ) {}

  activate(): void {
    this.host.setInteractions(false, false);
    this.listener = this.host.map.on("singleclick", (event: MapBrowserEvent) => this.pin(event));
  }

  private pin(event: MapBrowserEvent): void {
    const point = pointToPixel(event.coordinate);
    void askText("Comment on this point", "Comment").then((body) => {
      if (body) void this.comments().add(body, { point });
      this.host.setMode("select");
    });
  }

  deactivate(): void {
    if (this.listener) unByKey(this.listener);
    this.listener = null;
  }

  dispose(): void {
    this.deactivate();
  }
}
