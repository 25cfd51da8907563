// Select (V): click a region to select it, drag it to move it, drag a vertex, Alt+click removes one. The
// editor owns Select, Modify and Translate (the other tools read the selection); this tool turns them on.
import type { Tool, ToolHost } from "./tool";

export class SelectTool implements Tool {
  readonly id = "select";
  readonly label = "Select";
  readonly key = "V";
  readonly keys = ["v"];
  readonly help = "Select, move (drag), edit vertices (drag; Alt+click removes one)";
  readonly edits = false;

  constructor(private readonly host: ToolHost) {}

  activate(): void {
    this.host.setInteractions(true, this.host.editable);
  }

  deactivate(): void {}

  dispose(): void {}
}
