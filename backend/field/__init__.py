"""Field work: grids (网格) and transformer areas (台区), inspectors' routes, field readings."""
