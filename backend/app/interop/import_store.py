"""Storing one imported item's regions as the user asked: an annotation of the importer, or a prediction of
the import's model version. Both keep the item's import key, so importing the same file again adds nothing."""

from __future__ import annotations

from app.interop.imports import ImportContext, ImportReport
from app.models.observation import Observation
from app.services import annotations as annotation_service
from app.services import predictions as prediction_service


def store_imported(
    ctx: ImportContext,
    observation: Observation,
    regions: list[annotation_service.RegionInput],
    key: str,
    report: ImportReport,
) -> None:
    """Flush (never commit: the import commits once, at its end) the regions and count them in the report."""
    if ctx.options.as_ == "predictions":
        prediction_service.create_prediction(
            ctx.session,
            observation,
            ctx.options.model_version,
            None,
            regions,
            ctx.limits,
            commit=False,
            import_key=key,
        )
        report.predictions_created += 1
    else:
        annotation_service.create_annotation(
            ctx.session,
            observation,
            regions,
            ctx.limits,
            user_id=ctx.importer_id,
            commit=False,
            import_key=key,
        )
        report.annotations_created += 1
