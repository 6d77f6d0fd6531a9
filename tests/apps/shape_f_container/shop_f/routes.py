from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends, HTTPException

from .containers import Container
from .services import Library, Stats

router = APIRouter()


@router.post("/books/{title}", status_code=201)
@inject
async def add(title: str, library: Library = Depends(Provide[Container.library])) -> dict:
    return {"id": await library.add(title)}


@router.post("/books/{title}/lend")
@inject
async def lend(title: str, library: Library = Depends(Provide[Container.library])) -> dict:
    try:
        return {"loans": await library.lend(title)}
    except LookupError:
        raise HTTPException(404, f"no book {title}") from None
    except PermissionError as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/books")
@inject
async def books(library: Library = Depends(Provide[Container.library]),
                stats: Stats = Depends(Provide[Container.stats])) -> dict:
    return {"titles": await library.titles(), "count": await stats.books()}
