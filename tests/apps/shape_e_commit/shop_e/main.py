from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .db import get_db
from .models import Line, Order

app = FastAPI()


@app.post("/orders/{customer}", status_code=201)
async def place(customer: str, products: str = "", db: AsyncSession = Depends(get_db)) -> dict:
    """Adds and flushes only: get_db's commit after the yield is what keeps the order."""
    order = Order(customer=customer)
    db.add(order)
    await db.flush()
    db.add_all([Line(order_id=order.id, product=p) for p in products.split(",") if p])
    return {"id": order.id, "customer": customer}


@app.post("/orders/{customer}/refused", status_code=201)
async def refused(customer: str, db: AsyncSession = Depends(get_db)) -> dict:
    db.add(Order(customer=customer))
    await db.flush()
    raise HTTPException(409, f"{customer} may not order")


@app.get("/orders")
async def orders(db: AsyncSession = Depends(get_db)) -> list[dict]:
    counted = (select(Order.customer, func.count(Line.id)).outerjoin(Line, Line.order_id == Order.id)
               .group_by(Order.id).order_by(Order.id))
    return [{"customer": c, "lines": n} for c, n in (await db.execute(counted)).all()]
