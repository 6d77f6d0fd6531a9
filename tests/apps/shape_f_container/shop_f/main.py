import os

from fastapi import FastAPI

from . import routes
from .containers import Container

container = Container()  # wires shop_f.routes
container.config.database_url.from_value(os.environ.get("SHOP_DATABASE_URL", "postgresql+asyncpg://localhost/shop"))

app = FastAPI()
app.container = container
app.include_router(routes.router)
