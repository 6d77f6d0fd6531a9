from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .db import get_session
from .models import Customer, Invoice

app = FastAPI()


async def _customer(session: AsyncSession, email: str) -> Customer:
    customer = await session.scalar(select(Customer).where(Customer.email == email))
    if customer is None:
        raise HTTPException(404, f"no customer {email}")
    return customer


@app.post("/customers", status_code=201)
async def add_customer(email: str, session: AsyncSession = Depends(get_session)) -> dict:
    session.add(Customer(email=email))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise HTTPException(409, f"{email} exists") from None
    return {"email": email}


@app.get("/customers/{email}")
async def find_customer(email: str, session: AsyncSession = Depends(get_session)) -> dict:
    return {"email": (await _customer(session, email)).email}


@app.post("/customers/{email}/invoices", status_code=201)
async def add_invoice(email: str, amount_cents: int, session: AsyncSession = Depends(get_session)) -> dict:
    invoice = Invoice(customer_id=(await _customer(session, email)).id, amount_cents=amount_cents)
    session.add(invoice)
    await session.commit()
    await session.refresh(invoice)
    return {"id": str(invoice.id), "amount_cents": amount_cents}


@app.get("/customers/{email}/invoices")
async def invoices(email: str, session: AsyncSession = Depends(get_session)) -> list[int]:
    customer = await _customer(session, email)
    rows = await session.scalars(select(Invoice.amount_cents).where(Invoice.customer_id == customer.id)
                                 .order_by(Invoice.amount_cents))
    return list(rows)
