-- Nothing reads orders by customer within a dataset that the primary key (dataset_id, id)
-- does not serve as well; maintaining this index was a sixth of the cost of sinking orders.
DROP INDEX orders_customer;
