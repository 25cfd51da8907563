import { api, call, type Schemas } from "./client";

export type UiConfig = Schemas["UiConfig"];

let config: Promise<UiConfig> | null = null;

/** The installation's settings for the client (basemap, sign-up), asked for once per page load. */
export function uiConfig(): Promise<UiConfig> {
  config ??= call(api.GET("/api/ui-config"));
  return config;
}
