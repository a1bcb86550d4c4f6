pub struct RegisterProfile; pub enum WordOrder {}
