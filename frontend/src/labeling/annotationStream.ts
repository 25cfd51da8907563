// Opening a task reads its annotations as a stream of lines (GET .../annotations/stream, NDJSON): each line
// is parsed when it arrives, while the server still reads and sends the rest, instead of one 10 MiB body
// parsed after its last byte (docs/adr/2026-12-03-opening-a-task-streams-its-regions.md).
import { api, apiError, type Annotation, type Schemas } from "../api/client";

type Line = Schemas["AnnotationStreamLine"];

/** A stream that ended without its `end` line, or with counts that do not match what came. */
export class CutOffStreamError extends Error {
  constructor() {
    super("The task's regions did not all arrive (the connection broke off). Reload the page to open it again.");
  }
}

/** The task's annotations the caller may read, oldest first, as the task's list answers them (regions in
 * pixels only: without their EPSG:4326 copies). Throws ApiError for an error answer, CutOffStreamError
 * when the stream did not hold the whole task: a partial task is never opened (its saves could then
 * drop regions that did not arrive). */
export async function streamAnnotations(observationId: string): Promise<Annotation[]> {
  const { data, error, response } = await api.GET("/api/observations/{observation_id}/annotations/stream", {
    params: { path: { observation_id: observationId }, query: { wgs84: false } },
    parseAs: "stream",
  });
  if (!response.ok || !data) throw apiError(error, response);
  const reader = data.pipeThrough(new TextDecoderStream()).getReader();
  const annotations: Annotation[] = [];
  let regions = 0;
  let ended = false;
  const take = (text: string): void => {
    if (ended) throw new CutOffStreamError(); // nothing comes after `end`
    const line = JSON.parse(text) as Line;
    const current = annotations[annotations.length - 1];
    if (line.annotation) annotations.push({ ...line.annotation, regions: [], warnings: [] });
    else if (line.regions && current) {
      for (const region of line.regions) current.regions.push(region);
      regions += line.regions.length;
    } else if (line.warnings && current) current.warnings = line.warnings;
    else if (line.end) {
      if (line.end.annotations !== annotations.length || line.end.regions !== regions) throw new CutOffStreamError();
      ended = true;
    } else throw new CutOffStreamError();
  };
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    // Only the new text is searched for line ends: a line of 1,000 regions comes in many pieces.
    let start = 0;
    let end = value.indexOf("\n");
    if (end >= 0) {
      take(rest + value.slice(0, end));
      rest = "";
      start = end + 1;
      while ((end = value.indexOf("\n", start)) >= 0) {
        take(value.slice(start, end));
        start = end + 1;
      }
    }
    rest += value.slice(start);
  }
  if (!ended || rest.trim()) throw new CutOffStreamError();
  return annotations;
}
