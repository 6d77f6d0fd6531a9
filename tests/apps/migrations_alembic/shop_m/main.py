from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .db import get_session
from .models import Customer, Order

app = FastAPI()


@app.post("/customers/{name}", status_code=201)
async def add_customer(name: str, session: AsyncSession = Depends(get_session)) -> dict:
    customer = Customer(name=name)
    session.add(customer)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise HTTPException(409, f"{name} exists") from None
    return {"id": customer.id, "name": name}


@app.post("/orders", status_code=201)
async def add_order(total_cents: int, customer: str | None = None,
                    session: AsyncSession = Depends(get_session)) -> dict:
    customer_id = None
    if customer is not None:
        customer_id = await session.scalar(select(Customer.id).where(Customer.name == customer))
        if customer_id is None:
            raise HTTPException(404, f"no customer {customer}")
    order = Order(customer_id=customer_id, total_cents=total_cents)
    session.add(order)
    await session.commit()
    await session.refresh(order)
    return {"id": order.id, "customer_id": customer_id, "created_at": order.created_at.isoformat()}


@app.get("/orders")
async def list_orders(session: AsyncSession = Depends(get_session)) -> list[dict]:
    orders = (await session.scalars(select(Order).order_by(Order.id))).all()
    return [{"total_cents": o.total_cents, "guest": o.customer_id is None} for o in orders]
