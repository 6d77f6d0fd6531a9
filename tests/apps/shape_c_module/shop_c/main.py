from fastapi import FastAPI, HTTPException

from . import services

app = FastAPI()


@app.get("/items")
async def list_items() -> list[dict]:
    return await services.list_items()


@app.get("/count")
async def count() -> dict:
    return {"items": await services.count()}


@app.post("/items/{name}", status_code=201)
async def create(name: str) -> dict:
    try:
        return await services.create(name)
    except services.Duplicate:
        raise HTTPException(409, f"{name} exists") from None


@app.post("/items/{name}/activate")
async def activate(name: str) -> dict:
    return await services.activate(name)


@app.post("/items/{name}/draft")
async def draft(name: str) -> dict:
    await services.draft(name)
    return {"kept": False}


@app.post("/items/{name}/boom")
async def boom(name: str) -> dict:
    await services.boom(name)
    return {}
