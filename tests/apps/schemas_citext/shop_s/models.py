"""Customers in the crm schema (e-mail addresses compared without case: citext), their invoices in billing."""
import uuid

from sqlalchemy import ForeignKey, func
from sqlalchemy.dialects.postgresql import CITEXT
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = {"schema": "crm"}
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(CITEXT, unique=True)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = {"schema": "billing"}
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=func.gen_random_uuid())
    customer_id: Mapped[int] = mapped_column(ForeignKey("crm.customers.id"))
    amount_cents: Mapped[int]
