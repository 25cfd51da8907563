"""Who may call each route: the one table of permission rules.

Every API route is listed here by its name (the handler's function name); ``missing_rules`` finds routes
without a rule, and the app refuses to start with one (tests/access/test_permission_matrix.py also
generates a test per route and role from this table).

A rule is either about the caller alone (anyone, any signed-in user, a site admin) or about the caller's
role in the project that the route's path points at, with a condition on the resource:

- ANY: any resource of the project.
- OWN: the caller made it (an annotation, a comment, a job, a token).

A member rule may say which rule applies when the resource belongs to no project (``without_project``:
a site-wide job such as the health probe is its maker's).
- SHARED: the caller's own, or the project lets annotators see each other's work.
- ASSIGNED: the task is assigned to the caller (in any state).
- DRAFTING: the caller is labeling the task now (assignment in progress) and the annotation is theirs.
- REVIEWING: the task is submitted, waiting for review.

Site admins (``User.is_admin``) pass every rule. A member whose role has no entry gets 403; a user who is
not a member of the project gets 404, as if the resource did not exist.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.models.access import ProjectRole


class Caller(enum.StrEnum):
    ANYONE = "anyone"
    SIGNED_IN = "signed_in"
    SIGNED_IN_OWNER = "signed_in_owner"  # any signed-in user, on what they made
    SITE_ADMIN = "site_admin"
    MEMBER = "member"  # decided by the role table


class Cond(enum.StrEnum):
    ANY = "any"
    OWN = "own"
    SHARED = "shared"
    ASSIGNED = "assigned"
    DRAFTING = "drafting"
    REVIEWING = "reviewing"


@dataclass(frozen=True)
class Rule:
    caller: Caller
    roles: Mapping[ProjectRole, Cond] = field(default_factory=dict)
    # For resources that may belong to no project (a site-wide job): the rule that applies then.
    without_project: Rule | None = None

    def condition_for(self, role: ProjectRole) -> Cond | None:
        return self.roles.get(role)


ADMIN, REVIEWER, ANNOTATOR = ProjectRole.ADMIN, ProjectRole.REVIEWER, ProjectRole.ANNOTATOR
ANYONE = Rule(Caller.ANYONE)
SIGNED_IN = Rule(Caller.SIGNED_IN)
OWNER = Rule(Caller.SIGNED_IN_OWNER)
SITE_ADMIN = Rule(Caller.SITE_ADMIN)


def members(
    admin: Cond | None = Cond.ANY,
    reviewer: Cond | None = None,
    annotator: Cond | None = None,
    *,
    without_project: Rule | None = None,
) -> Rule:
    roles = {ADMIN: admin, REVIEWER: reviewer, ANNOTATOR: annotator}
    conditions = {role: cond for role, cond in roles.items() if cond is not None}
    return Rule(Caller.MEMBER, conditions, without_project)


A = Cond
EVERY_MEMBER = members(A.ANY, A.ANY, A.ANY)
STAFF = members(A.ANY, A.ANY)  # admins and reviewers
PROJECT_ADMIN = members(A.ANY)
READ_WORK = members(A.ANY, A.ANY, A.SHARED)  # drafts are private unless the project shares them
WRITE_WORK = members(A.ANY, A.REVIEWING, A.DRAFTING)  # reviewers fix regions during review only
LABELER = members(A.ASSIGNED, None, A.ASSIGNED)

RULES: dict[str, Rule] = {
    # health and metrics
    "live": ANYONE,
    "health": ANYONE,
    "ui_config": ANYONE,  # the basemap's URL: no secret, and the sign-in page may use it
    "metrics": SITE_ADMIN,
    # accounts
    "sign_in": ANYONE,
    "sign_up": ANYONE,
    "sign_out": SIGNED_IN,
    "read_me": SIGNED_IN,
    "list_tokens": SIGNED_IN,
    "create_token": SIGNED_IN,
    "revoke_token": OWNER,
    "list_users": SITE_ADMIN,
    "create_user": SITE_ADMIN,
    "update_user": SITE_ADMIN,
    # jobs: a project's jobs are its members' to see; a site-wide job (the probe) its maker's
    "list_jobs": SITE_ADMIN,  # every project's
    "list_project_jobs": EVERY_MEMBER,
    "read_job": members(A.ANY, A.ANY, A.ANY, without_project=OWNER),
    "cancel_job": members(A.ANY, A.OWN, A.OWN, without_project=OWNER),
    "submit_probe": SITE_ADMIN,
    # projects, members, imagery
    "create_project": SITE_ADMIN,
    "list_projects": SIGNED_IN,  # lists only the caller's projects
    "read_project": EVERY_MEMBER,
    "update_project": PROJECT_ADMIN,
    "read_labeling_config": EVERY_MEMBER,
    "replace_labeling_config": PROJECT_ADMIN,
    "list_members": EVERY_MEMBER,
    "set_member": PROJECT_ADMIN,
    "remove_member": PROJECT_ADMIN,
    "list_sites": EVERY_MEMBER,
    "list_observations": EVERY_MEMBER,
    "upload_images": PROJECT_ADMIN,
    "read_observation": EVERY_MEMBER,
    "update_observation": PROJECT_ADMIN,  # georeferencing and date corrections
    "delete_observation": PROJECT_ADMIN,
    "thumbnail": EVERY_MEMBER,
    "tile": EVERY_MEMBER,
    # annotations, regions, predictions
    "create_annotation": members(A.ANY, A.REVIEWING, A.DRAFTING),
    "list_annotations": members(A.ANY, A.ANY, A.ANY),  # annotators get their own unless shared
    "stream_annotations": members(A.ANY, A.ANY, A.ANY),  # the same list, streamed
    "read_annotation": READ_WORK,
    "save_annotation": WRITE_WORK,
    "change_annotation": WRITE_WORK,
    "delete_annotation": members(A.ANY, None, A.DRAFTING),
    "list_revisions": READ_WORK,
    "restore_annotation": WRITE_WORK,
    "add_region": WRITE_WORK,
    "read_region": READ_WORK,
    "replace_region": WRITE_WORK,
    "delete_region": WRITE_WORK,
    "viewport": EVERY_MEMBER,  # annotators see their own regions unless shared
    "approved_regions": EVERY_MEMBER,  # approved labels are the project's ground truth
    "label_stats": STAFF,
    # change over time: approved labels are every member's; include=all is refused to annotators whose
    # project keeps drafts private (app.services.change)
    "site_timeline": EVERY_MEMBER,
    "site_timeline_csv": EVERY_MEMBER,
    "site_change": EVERY_MEMBER,
    "site_change_file": EVERY_MEMBER,
    "region_lineage": EVERY_MEMBER,
    "change_overview": EVERY_MEMBER,
    "change_overview_csv": EVERY_MEMBER,
    "add_prediction": PROJECT_ADMIN,
    "remove_prediction": PROJECT_ADMIN,
    # the workflow
    "list_tasks": EVERY_MEMBER,
    "next_task": members(A.ANY, None, A.ANY),
    "review_queue": STAFF,
    "read_task": EVERY_MEMBER,
    "assign_task": PROJECT_ADMIN,
    "submit_task": LABELER,
    "approve_task": STAFF,
    "reject_task": STAFF,
    "rework_task": LABELER,
    "release_task": members(A.ANY, None, A.ASSIGNED),
    "reopen_task": PROJECT_ADMIN,
    "renew_lease": LABELER,
    "task_audit": members(A.ANY, A.ANY, A.ASSIGNED),
    "project_audit": PROJECT_ADMIN,
    "list_comments": members(A.ANY, A.ANY, A.ASSIGNED),
    "add_comment": members(A.ANY, A.ANY, A.ASSIGNED),
    "resolve_comment": members(A.ANY, A.ANY, A.ASSIGNED),
    "delete_comment": members(A.ANY, A.OWN, A.OWN),
    "task_agreement": STAFF,
    "project_agreement": STAFF,
    "project_progress": STAFF,
    # Segment Anything
    "sam_status": SIGNED_IN,
    "sam_decoder_file": SIGNED_IN,  # the model, no data
    "sam_prompt": EVERY_MEMBER,  # decodes; stores nothing
    "sam_embeddings": EVERY_MEMBER,
    "sam_embedding_window": EVERY_MEMBER,  # the image, as SAM sees it
    "sam_hover_map": EVERY_MEMBER,  # masks of the image, as SAM sees it
    "sam_embed_project": PROJECT_ADMIN,
    "sam_prelabel_project": PROJECT_ADMIN,
    "sam_carry_forward_project": PROJECT_ADMIN,
    # exports and imports
    # retraining: ML engineers are project admins; everyone sees the models and their scores
    "list_datasets": STAFF,
    "create_dataset": PROJECT_ADMIN,
    "read_dataset": STAFF,
    "download_dataset": STAFF,
    "train_now": PROJECT_ADMIN,
    "list_models": EVERY_MEMBER,
    "read_model": EVERY_MEMBER,
    "promote_model": PROJECT_ADMIN,
    "roll_back_model": PROJECT_ADMIN,
    "download_checkpoint": STAFF,
    "download_onnx": STAFF,
    "predict": PROJECT_ADMIN,
    "export_labels": STAFF,
    "create_export_job": STAFF,
    "download_job_file": members(A.ANY, A.OWN, A.OWN, without_project=OWNER),
    "list_formats": SIGNED_IN,
    "import_labels": PROJECT_ADMIN,
}


# Path parameters that lead to a project (app.api.access resolves each); member rules need one of them.
PROJECT_SCOPED_PARAMS = (
    "region_id",
    "annotation_id",
    "prediction_id",
    "comment_id",
    "observation_id",
    "project_id",
    "job_id",
    "model_version_id",
    "dataset_id",
)


@dataclass(frozen=True)
class RouteInfo:
    name: str
    path: str  # the full path, router prefix included
    methods: frozenset[str]
    route: APIRoute


def api_routes(app: FastAPI) -> list[RouteInfo]:
    """Every API route of the app (FastAPI includes routers lazily, so app.routes does not list them)."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            found.append(
                RouteInfo(route.name, context.path or route.path, frozenset(route.methods or ()), route)
            )
    return found


def _path_params(path: str) -> set[str]:
    """The parameter names of a route path, converters left off ({job_id:uuid} is job_id)."""
    return {part.split(":", 1)[0] for part in re.findall(r"\{([^}]+)\}", path)}


def missing_rules(app: FastAPI) -> list[str]:
    """Routes with no rule, and rules naming no route (a renamed handler)."""
    routes = api_routes(app)
    names = [info.name for info in routes]
    unscoped = sorted(
        info.name
        for info in routes
        if info.name in RULES
        and RULES[info.name].caller == Caller.MEMBER
        and not any(param in _path_params(info.path) for param in PROJECT_SCOPED_PARAMS)
    )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    unruled = sorted(set(names) - RULES.keys())
    stale = sorted(RULES.keys() - set(names))
    return (
        [f"route {n!r} has no permission rule" for n in unruled]
        + [f"rule {n!r} names no route" for n in stale]
        + [f"route name {n!r} is used twice; rules are keyed by name" for n in duplicates]
        + [f"route {n!r} has a member rule but no project resource in its path" for n in unscoped]
    )
