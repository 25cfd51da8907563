import "ol/ol.css";
import "./style.css";
import { onSignedOut } from "./api/client";
import { loadMe, me } from "./api/session";
import { currentPath, route, setGuard, startRouter } from "./router";
import { renderSignIn, showSignInAgain } from "./views/signIn";
import { renderProjects } from "./views/projects";
import { renderDashboard } from "./views/dashboard";
import { renderTasks } from "./views/tasks";
import { renderJobs } from "./views/jobs";
import { renderModels } from "./views/models";
import { renderSite } from "./views/site";
import { renderChangeOverview } from "./views/changeOverview";

route("/sign-in", renderSignIn);
route("/", renderProjects);
route("/projects/:projectId", renderDashboard);
route("/projects/:projectId/tasks", renderTasks);
route("/projects/:projectId/jobs", renderJobs);
route("/projects/:projectId/models", renderModels);
route("/projects/:projectId/sites/:siteId", renderSite);
route("/projects/:projectId/change", renderChangeOverview);
// The labeling view carries OpenLayers' editing code and proj4: loaded when first opened.
route("/projects/:projectId/label/:observationId", async (root, params, query) => {
  const { renderLabeling } = await import("./views/labeling");
  return renderLabeling(root, params, query);
});

setGuard((path) => {
  if (path === "/sign-in") return me() ? "/" : null;
  return me() ? null : `/sign-in?next=${encodeURIComponent(currentPath())}`;
});

// A session that ends while working (expiry, sign-out elsewhere) asks to sign in again on top of the
// current screen, so nothing on it is lost.
onSignedOut(() => {
  if (me() && currentPath() !== "/sign-in") showSignInAgain();
});

void loadMe().then(() => startRouter());

