"""titiler serving any COG (``?url=``): the reference the tile benchmark compares MineLabel with."""

from fastapi import FastAPI
from titiler.core.errors import DEFAULT_STATUS_CODES, add_exception_handlers
from titiler.core.factory import TilerFactory

app = FastAPI()
app.include_router(TilerFactory().router, prefix="/cog")
add_exception_handlers(app, DEFAULT_STATUS_CODES)  # a tile outside the image is a 404, as in MineLabel
