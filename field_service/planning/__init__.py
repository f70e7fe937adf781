"""Dispatch planning: the problem a technician's day poses (``problem``), travel times
(``travel``), ranking technicians for one job (``insertion``) and optimising a territory's
day with PyVRP (``solver``). Pure Python over plain data: the services build the problem from
the database and apply the answer."""
